"""Print a pip constraints file pinning every dependency to the lowest version pyproject.toml allows.

    python .ci/minimum_constraints.py --extras test,lint --untested bench > minimum.txt
    PIP_CONSTRAINT=minimum.txt pip install '.[test,lint]'

Pinned: the build requirements (``[build-system] requires``), the runtime dependencies, and the
requirements of each extra named (and of the extras those name, as ``nnlearn[plot,dask]``). Every
requirement must state its floor as ``>=X`` or ``==X``: a bare name has no minimum to test. Every
extra must be tested, that is reached from ``--extras``, or be named in ``--untested``, so a new
extra cannot slip past the minimum-versions run unnoticed.

The pins are read from pyproject.toml each time, so the versions CI tests as "oldest supported"
cannot drift from the ones the project declares. Constraints cannot carry extras
(``dask[distributed]``): the pin is on the distribution, and pip resolves the extra's own
requirements against it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib  # novermin
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (pytest requires it)
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


class Refused(Exception):
    """pyproject.toml declares something this script cannot pin."""


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def reached_extras(extras: list[str], project: dict) -> tuple[list[str], set[str]]:
    """The requirement lines of ``extras`` and of the project's extras they name, and the names
    of every extra reached."""
    optional = project.get("optional-dependencies", {})
    lines: list[str] = []
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        if extra not in optional:
            raise Refused(f"no extra {extra!r} (have: {', '.join(sorted(optional))})")
        seen.add(extra)
        for line in optional[extra]:
            req = Requirement(line)
            if _canonical(req.name) == _canonical(project["name"]):
                todo += sorted(req.extras)  # the project's own extras, e.g. nnlearn[plot]
            else:
                lines.append(line)
    return lines, seen


def minimum_pins(extras: list[str], untested: list[str] = (),
                 pyproject: Path = PYPROJECT) -> dict[str, str]:
    """``{distribution: lowest allowed version}`` for the build, the runtime and ``extras``."""
    toml = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = toml["project"]
    extra_lines, reached = reached_extras(extras, project)
    floors = {_floor(line) for line in extra_lines}
    # an extra not named is still tested when its requirements are among those pinned
    missed = sorted(name for name in set(project.get("optional-dependencies", {}))
                    - reached - set(untested)
                    if not {_floor(line) for line in reached_extras([name], project)[0]} <= floors)
    if missed:
        raise Refused(f"extra {', '.join(missed)} would not be tested at its minimum versions: "
                      f"add it to the test extra ({project['name']}[...]) or to --untested")
    lines = [*toml.get("build-system", {}).get("requires", []),
             *project.get("dependencies", []), *extra_lines]
    pins: dict[str, str] = {}
    for line in lines:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name, floor = _floor(line)
        if pins.get(name, floor) != floor:
            raise Refused(f"{name} has two minimums, {pins[name]} and {floor}: declare one")
        pins[name] = floor
    return pins


def _floor(line: str) -> tuple[str, str]:
    """``(distribution, lowest version allowed)`` of a requirement line."""
    req = Requirement(line)
    floors = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
    if len(floors) != 1:
        raise Refused(f"{line!r} must state one minimum version (>=X or ==X)")
    return _canonical(req.name), floors[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", default="", help="comma-separated extras to pin")
    parser.add_argument("--untested", default="", help="comma-separated extras left out")
    args = parser.parse_args(argv)
    split = [e for e in args.extras.split(",") if e], [e for e in args.untested.split(",") if e]
    try:
        pins = minimum_pins(*split)
    except Refused as exc:
        print(f"Error: {PYPROJECT}: {exc}", file=sys.stderr)
        return 2
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
