"""Screenshot of an ``nnlearn report`` page for the docs: the "Watch it learn" section at one
snapshot, as the page shows it in a 1280x800 window, cropped and reduced to a small PNG.

    python docs/screenshot.py runs/spirals/report.html --snapshot 12 -o docs/images/report-spirals.png

Needs Debian's chromium and chromium-driver, selenium and Pillow (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("--snapshot", type=int, default=-1, help="slider position (default: last)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--colors", type=int, default=40)
    ap.add_argument("--scale", type=float, default=0.85)
    args = ap.parse_args()

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    profile = tempfile.mkdtemp(prefix="nnlearn-shot-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        driver.get(args.page.resolve().as_uri())
        driver.execute_script(
            "var s = document.getElementById('slider');"
            "s.value = String(arguments[0] < 0 ? s.max : arguments[0]);"
            "s.dispatchEvent(new Event('input'));", args.snapshot)
        section = driver.find_element(By.ID, "learn")
        driver.execute_script("arguments[0].scrollIntoView(); window.scrollBy(0, -44);", section)
        # the section's width is the page's; its content ends with the network's pane
        rect = driver.execute_script(
            "var r = arguments[0].getBoundingClientRect(), panes = arguments[0]"
            ".querySelectorAll('.pane'), right = r.left;"
            "panes.forEach(function (p) { right = Math.max(right, p.getBoundingClientRect()"
            ".right); });"
            "return [r.left, r.top, panes.length ? right : r.right,"
            " Math.min(r.bottom, innerHeight)];", section)
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    left, top, right, bottom = (round(v) for v in rect)
    img = shot.crop((max(left - 8, 0), max(top - 8, 0), min(right + 8, shot.width),
                     min(bottom + 4, shot.height)))
    if args.scale != 1:
        img = img.resize((round(img.width * args.scale), round(img.height * args.scale)),
                         Image.Resampling.LANCZOS)
    img = img.quantize(colors=args.colors, method=Image.Quantize.FASTOCTREE,
                       dither=Image.Dither.NONE)
    img.save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
