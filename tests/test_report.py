"""``nnlearn report``: one self-contained HTML page per run, checked as text (sections, size,
nothing fetched from the network, the embedded frames) and in a real browser (headless Debian
Chromium driven by selenium: no console errors, every section shown, the slider changes the
decision regions and the network, the page is not blank)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, assert_clean_error, run_cli

from nnlearn.plots.report import build_report, png_bytes
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.runs.snapshots import SNAPSHOTS_FILE, read_snapshots

SECTIONS = ("summary", "curves", "learn", "diagnostics", "weights", "test")
MB = 1024 * 1024


@pytest.fixture(scope="module")
def spirals(tmp_path_factory) -> Path:
    """The done-when run: configs/spirals.yaml as bundled, 20 snapshots, with diagnostics."""
    out = tmp_path_factory.mktemp("spirals") / "spirals"
    runs.train(load_config(CONFIGS / "spirals.yaml",
                           ["training.snapshots=20", "training.diagnostics=true"]), out=out)
    return out


@pytest.fixture(scope="module")
def spirals_page(spirals) -> tuple[Path, str]:
    path = build_report([spirals])
    return path, path.read_text(encoding="utf-8")


def _data(page: str) -> dict:
    blob = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                     re.DOTALL)
    return json.loads(blob.group(1))


def _section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([\w-]+)"', page)


def _png_pixels(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def assert_self_contained(page: str) -> None:
    """Nothing to fetch: no external scripts, styles, images or fonts."""
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:)?//', page)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page)
    assert "@import" not in page and "<link rel=\"stylesheet\"" not in page
    assert "<script src" not in page


# ------------------------------------------------------------------------------------------
# the page as text


def test_the_spirals_page_has_every_section_and_every_snapshot(spirals, spirals_page):
    path, page = spirals_page
    assert path == spirals / "report.html"
    assert path.stat().st_size <= 2 * MB  # the limit for spirals with 20 snapshots
    assert_self_contained(page)
    assert _section_ids(page) == list(SECTIONS)
    epochs, frames = read_snapshots(spirals / SNAPSHOTS_FILE)
    data = _data(page)
    assert data["epochs"] == epochs and len(epochs) == 20
    assert len(data["images"]) == len(data["net"]["snaps"]) == 20
    # the decision regions change as the network learns: the first and last images differ a lot
    first, last = _png_pixels(data["images"][0]), _png_pixels(data["images"][-1])
    assert first.shape == last.shape and first.shape[2] == 3
    assert np.abs(first.astype(int) - last.astype(int)).mean() > 10
    # the network's int8 weights are the snapshot's, to within the quantisation step
    sizes = data["net"]["sizes"]
    assert sizes == [2, 64, 64, 32, 1]
    q = np.frombuffer(base64.b64decode(data["net"]["snaps"][-1]), dtype=np.int8)
    w1 = frames[-1]["dense_1.W"]
    scale = data["net"]["wscale"][0]
    assert np.abs(q[:w1.size].reshape(w1.shape) / 127 * scale - w1).max() <= scale / 127
    # what a student needs in words: why it stopped, the best epoch, the test accuracy
    metrics = json.loads((spirals / runs.METRICS_FILE).read_text())
    assert metrics["stopped"] in page
    assert "best epoch" in page
    assert "Confusion matrix" in page
    for row in metrics["test"]["confusion_matrix"]:
        for count in row:
            assert f">{count}</td>" in page


def test_diagnostics_become_per_layer_charts(spirals_page):
    page = spirals_page[1]
    diag = page[page.index('<section id="diagnostics"'):page.index('<section id="weights"')]
    for metric in ("grad_norm", "weight_norm", "update_ratio"):
        assert f">{metric}</text>" in diag
    assert diag.count("<polyline") >= 3 * 4  # three charts, one line per Dense layer
    assert "had no <code>--diagnostics</code>" not in diag


def test_png_encoder_round_trips_exactly():
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(png_bytes(img))).convert("RGB"))
    assert np.array_equal(back, img)


def test_digits_page_has_no_boundary_and_stays_small(tmp_path):
    run = tmp_path / "digits"
    runs.train(load_config(CONFIGS / "digits.yaml", ["training.snapshots=20"]), out=run)
    page = build_report([run]).read_text(encoding="utf-8")
    assert len(page.encode()) <= 1 * MB  # the limit for digits
    assert_self_contained(page)
    assert _section_ids(page) == list(SECTIONS)
    data = _data(page)
    assert data["images"] is None and 'id="region"' not in page
    assert "exactly two input features; this model has 64" in page
    assert data["net"]["sizes"] == [64, 64, 10] and len(data["net"]["snaps"]) == 20
    assert "had no <code>--diagnostics</code>" in page


def test_regression_shows_predicted_against_actual(tmp_path):
    run = tmp_path / "diabetes"
    runs.train(load_config(CONFIGS / "diabetes.yaml", ["training.epochs=5"]), out=run)
    page = build_report([run], tmp_path / "r.html").read_text(encoding="utf-8")
    test = page[page.index('<section id="test"'):]
    n_test = json.loads((run / runs.METRICS_FILE).read_text())["test"]["n"]
    assert "predicted vs actual" in test
    assert test.count("<circle") == n_test
    # no snapshots: the final model alone, and a hint how to get the replay
    assert "--snapshots 20" in page and _data(page)["epochs"] == [5]


def test_several_runs_overlay_their_curves_and_show_what_differs(tmp_path):
    for lr in ("0.1", "0.01"):
        runs.train(load_config(CONFIGS / "xor.yaml", [f"training.learning_rate={lr}",
                                                      "training.epochs=7"]),
                   out=tmp_path / "sweep" / f"lr{lr}")
    path = build_report([tmp_path / "sweep"])
    assert path == tmp_path / "sweep" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert _section_ids(page) == ["summary", "differs", "curves"]
    differs = page[page.index('<section id="differs"'):page.index('<section id="curves"')]
    assert "training.learning_rate" in differs
    assert ">0.1</td>" in differs and ">0.01</td>" in differs
    curves = page[page.index('<section id="curves"'):]
    # the training loss and the training accuracy of each (xor has no val split)
    assert curves.count("<polyline") == 4
    assert "learning_rate=0.1" in curves and "learning_rate=0.01" in curves


def test_a_run_without_model_is_replayed_from_its_snapshots(tmp_path):
    """A diverged run leaves no model.npz; its snapshots still show how it got there."""
    run = tmp_path / "moons"
    runs.train(load_config(CONFIGS / "moons.yaml", ["training.epochs=6",
                                                    "training.snapshots=3"]), out=run)
    (run / runs.MODEL_FILE).unlink()
    page = build_report([run]).read_text(encoding="utf-8")
    data = _data(page)
    assert data["epochs"] == [0, 3, 6] and len(data["images"]) == 3
    assert len(data["net"]["snaps"]) == 3
    (run / SNAPSHOTS_FILE).unlink()
    page = build_report([run]).read_text(encoding="utf-8")
    assert _section_ids(page) == list(SECTIONS) and _data(page)["epochs"] == []
    assert "nothing to replay" in page


def test_wide_layers_are_drawn_cut_to_their_first_units(tmp_path):
    run = tmp_path / "wide"
    runs.train(load_config(CONFIGS / "moons.yaml", ["model.hidden=[70]", "training.epochs=1",
                                                    "training.snapshots=2"]), out=run)
    page = build_report([run]).read_text(encoding="utf-8")
    net = _data(page)["net"]
    assert net["sizes"] == [2, 64, 1]
    assert len(base64.b64decode(net["snaps"][0])) == 2 * 64 + 64 + 64 * 1 + 1
    assert "64 of 70" in page


def test_the_report_command(tmp_path):
    run = tmp_path / "xor"
    runs.train(load_config(CONFIGS / "xor.yaml", ["training.epochs=4",
                                                  "training.snapshots=2"]), out=run)
    proc = run_cli("report", run)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(run / "report.html")
    assert _section_ids((run / "report.html").read_text()) == list(SECTIONS)
    proc = run_cli("report", run, "-o", tmp_path / "elsewhere.html")
    assert proc.returncode == 0 and (tmp_path / "elsewhere.html").is_file()
    assert_clean_error(run_cli("report", run, "-o", tmp_path / "page.png"), 2,
                       "report writes an HTML page; give a file name ending in .html")
    assert not (tmp_path / "page.png").exists()
    (tmp_path / "empty").mkdir()
    assert_clean_error(run_cli("report", tmp_path / "empty"), 2, "not a run folder")
    assert "Example" in run_cli("report", "--help").stdout


# ------------------------------------------------------------------------------------------
# the page in a real browser

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,800")


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Debian's chromium and chromium-driver are not installed here "
                    "(.ci/run installs them with apt-get where apt is available)")
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium (the test extra) is not installed")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="nnlearn-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_the_report_works_in_a_browser(browser, spirals_page, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    path, _ = spirals_page
    browser.get(path.resolve().as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    # every section is there and shown
    for sid in SECTIONS:
        assert browser.find_element(By.ID, sid).is_displayed(), sid
    # nothing was fetched but the page itself (everything else is inline or a data: URI)
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith("data:")] == []

    def state():
        return {
            "image": browser.find_element(By.ID, "region").get_attribute("href"),
            "edges": browser.execute_script(
                "return Array.from(document.querySelectorAll('#network line'))"
                ".map(l => l.getAttribute('stroke-width') + l.getAttribute('stroke')).join()"),
            "caption": browser.find_element(By.ID, "caption").text,
            "boundary_px": browser.find_element(By.ID, "boundary").screenshot_as_png,
            "network_px": browser.find_element(By.ID, "network").screenshot_as_png,
        }

    n_edges = browser.execute_script("return document.querySelectorAll('#network line').length")
    assert n_edges == 2 * 64 + 64 * 64 + 64 * 32 + 32
    last = state()
    assert last["caption"].startswith("epoch 600")
    slider = browser.find_element(By.ID, "slider")
    slider.send_keys(Keys.HOME)  # the keyboard moves a range input to its first value
    first = state()
    assert slider.get_attribute("value") == "0"
    assert first["caption"].startswith("epoch 0")
    assert first["image"] != last["image"]
    assert first["edges"] != last["edges"]
    for key in ("boundary_px", "network_px"):  # and what is drawn on the screen changes too
        a, b = _pixels(first[key]), _pixels(last[key])
        assert a.shape == b.shape and np.abs(a - b).mean() > 1.0, key
    # play moves the slider on by itself
    browser.find_element(By.ID, "play").click()
    WebDriverWait(browser, 10).until(lambda d: int(slider.get_attribute("value")) >= 2)
    browser.find_element(By.ID, "play").click()  # pause
    # a screenshot of the whole window is not blank
    shot = browser.get_screenshot_as_png()
    (tmp_path / "report.png").write_bytes(shot)
    px = _pixels(shot)
    assert px.std() > 20 and len(np.unique(px.reshape(-1, 3), axis=0)) > 100
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
