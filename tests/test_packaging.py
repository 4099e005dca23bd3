"""The wheel is the package: built from the checkout, installed into a fresh venv outside it, it
imports every module (hpo.flows, hpo.workers, ... come from the package-dir mapping, not from
symlinks), carries its data files, and runs ``hpo tune`` end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import optuna
import pytest

REPO = Path(__file__).resolve().parents[1]

# Run inside the fresh venv: every module imports, from the venv, with its data files.
_CHECK = """
import importlib, pkgutil, sys
import hpo
names = [m.name for m in pkgutil.walk_packages(hpo.__path__, "hpo.")]
for name in names:
    if name != "hpo.__main__":  # that one runs the CLI
        importlib.import_module(name)
from importlib import resources
import hpo.flows, hpo.infra, hpo.search_spaces
data = [
    resources.files("hpo.search_spaces") / "specs" / "branin.yaml",
    resources.files("hpo.infra") / "pool_templates" / "cpu.json",
    resources.files("hpo.infra") / "pgbouncer" / "pgbouncer.ini",
    resources.files("hpo.flows") / "prefect.yaml",
]
assert all(p.is_file() for p in data), data
outside = [m.__name__ for m in list(sys.modules.values())
           if m.__name__.split(".")[0] == "hpo" and not m.__file__.startswith(sys.prefix)]
assert not outside, outside
print(hpo.__file__)
print(hpo.flows.__file__)
print(len(names))
"""


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(
    tmp_path: Path, pg_url: str, study_name: str, prefect_api_env: dict[str, str]
) -> None:
    # Built from a copy of the tracked files: what a fresh clone holds, and no build/ left in
    # the checkout.
    source = tmp_path / "src"
    tracked = subprocess.run(
        ["git", "-C", REPO, "ls-files", "-z"], check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():  # a file deleted in the work tree is not built
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", source, "-w", tmp_path],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("prefect_hpo-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    # Dependencies come from this interpreter's site-packages, added as plain path entries: the
    # .pth files there (a checkout's editable finder among them) are not run.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (next(venv.glob("lib/python3*/site-packages")) / "deps.pth").write_text("\n".join(deps))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HPO_DATABASE_URL=pg_url, PREFECT_HOME=str(tmp_path / "prefect"))
    run = subprocess.run(
        [python, "-c", _CHECK], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    hpo_file, flows_file, n_modules = run.stdout.split()
    assert Path(hpo_file).is_relative_to(venv) and Path(flows_file).is_relative_to(venv)
    with zipfile.ZipFile(wheel) as whl:
        py_files = [n for n in whl.namelist() if n.endswith(".py")]
    assert "hpo/flows/tune_pools.py" in py_files and "hpo/workers/objectives/base.py" in py_files
    assert int(n_modules) == len(py_files) - 1 > 80  # every module but hpo itself was imported

    proc = subprocess.run(  # against the session's Prefect server, not an ephemeral one
        [venv / "bin" / "hpo", "tune", "branin", "--n-trials", "5", "--study", study_name],
        cwd=tmp_path,
        env={**env, **prefect_api_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5
    assert study.best_value == min(t.value for t in study.trials if t.value is not None)
