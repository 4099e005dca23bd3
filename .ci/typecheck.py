"""Type-check the ``hpo`` package with mypy, every module once under its installed name.

``flows/``, ``workers/``, ``search_spaces/`` and ``infra/`` are installed as ``hpo.flows`` ...
(``[tool.setuptools.package-dir]`` in pyproject.toml). mypy names a file by its directory
(``flows/tune.py`` would be ``flows.tune``) and cannot follow setuptools' editable finder, so this
script hands mypy each file with its module name, read from that same mapping. The options are
pyproject's ``[tool.mypy]``. Usage: ``python .ci/typecheck.py`` (exit 1 on any error).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from mypy import build
from mypy.find_sources import BuildSource
from mypy.main import process_options

ROOT = Path(__file__).resolve().parents[1]


def sources() -> list[BuildSource]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    found = []
    for package in config["tool"]["setuptools"]["packages"]:
        # The deepest mapped parent gives the folder: hpo.workers.objectives -> workers/objectives.
        base = max((p for p in package_dir if package == p or package.startswith(p + ".")), key=len)
        folder = ROOT / package_dir[base] / package[len(base) :].lstrip(".").replace(".", "/")
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found.append(BuildSource(str(path.relative_to(ROOT)), name, None))
    return found


def main() -> int:
    # `-c ""` only satisfies the option parser; the sources are the ones above.
    _, options = process_options(["--config-file", str(ROOT / "pyproject.toml"), "-c", ""])
    result = build.build(sources(), options, stdout=sys.stdout, stderr=sys.stderr)
    for line in result.errors:
        print(line)
    n = len([line for line in result.errors if ": error:" in line])
    print(f"Found {n} errors" if n else "Success: no issues found")
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
