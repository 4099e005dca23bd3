"""Tables at 80 columns, as a terminal user sees them: `hpo` runs in a real pseudo-terminal of
80x24; identifying columns (study names, pipelines, stages, decisions) are printed whole, no
line is wider than the terminal, and --wide brings every column back."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import sys
import termios
import uuid
from pathlib import Path

import optuna
import pytest

from hpo.promotions import registry
from hpo.store import get_storage

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(*args: str, cols: int = 80, rows: int = 24) -> str:
    """Run ``hpo ARGS`` attached to a pseudo-terminal of ``cols`` x ``rows``; its screen text."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: size its terminal, then become `hpo`
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        os.execve(sys.executable, [sys.executable, "-m", "hpo", *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, b"".join(chunks).decode(errors="replace")
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def _assert_fits(screen: str, cols: int = 80) -> None:
    too_wide = [line for line in screen.splitlines() if len(line) > cols]
    assert not too_wide, "\n".join(too_wide)


@pytest.fixture
def study_name() -> str:
    """A study name of a realistic length (the shared fixture's are 50+ characters)."""
    return f"xgb-credit-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def promoted(pg_url: str, study_name: str) -> tuple[str, str]:
    pipeline, stage = f"credit-risk-{uuid.uuid4().hex[:6]}", "production-eu"
    optuna.create_study(study_name=study_name, storage=pg_url).optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2
    )
    engine = get_storage().engine
    registry.create_tables(engine)
    with engine.begin() as conn:  # a decision row as the gate writes it
        registry.insert(conn, {
            "pipeline": pipeline, "stage": stage, "decision": "promoted",
            "reason": "first champion of this stage: a long reason that has to fold or go away",
            "study_name": study_name, "trial_number": 1, "params": {"x": 0.5},
            "value": 0.123456789, "reeval_value": 0.1201, "reeval_detail": None,
            "champion_reeval_value": None, "metric": "accuracy", "direction": "maximize",
            "margin": 0.0, "objective": "xgboost", "dataset": "wine", "sampler": "tpe",
            "seed": 0, "spec_hash": None, "dataset_fingerprint": None, "code_version": None,
            "promoted_by": "test", "idempotency_key": uuid.uuid4().hex,
        })  # fmt: skip
    return pipeline, stage


def test_promotions_at_80_columns(promoted: tuple[str, str], study_name: str) -> None:
    pipeline, stage = promoted
    screen = run_in_terminal("promotions", "list", "--pipeline", pipeline)
    _assert_fits(screen)
    for whole in (pipeline, stage, "promoted", study_name):
        assert whole in screen  # never cut to 'pro…'
    assert "…" not in screen
    assert "--wide shows every column" in screen
    wide = run_in_terminal("promotions", "list", "--pipeline", pipeline, "--wide", cols=250)
    assert "first champion of this stage" in wide and "re-evaluated" in wide


def test_studies_at_80_columns(promoted: tuple[str, str], study_name: str) -> None:
    screen = run_in_terminal("studies", "list", "--name", study_name)
    _assert_fits(screen)
    assert study_name in screen and "2 complete" in screen and "…" not in screen
    screen = run_in_terminal("studies", "trials", study_name)
    _assert_fits(screen)
    assert "COMPLETE" in screen and "…" not in screen


def test_pipes_stay_wide(promoted: tuple[str, str], tmp_path: Path) -> None:
    import subprocess

    pipeline, _ = promoted
    out = subprocess.run(
        [sys.executable, "-m", "hpo", "promotions", "list", "--pipeline", pipeline],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "first champion of this stage" in out  # 200 columns: nothing left out
