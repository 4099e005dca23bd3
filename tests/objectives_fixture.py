"""Users' own objectives, as a user would write them, for the runner, flow and CLI tests."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from hpo.workers.objectives import TrialContext


def quadratic(params: Mapping[str, Any]) -> float:
    """One-argument objective: minimum 0 at x = 2, y = -1."""
    return float((params["x"] - 2.0) ** 2 + (params.get("y", -1.0) + 1.0) ** 2)


def quadratic_with_context(params: Mapping[str, Any], context: TrialContext) -> float:
    """Two-argument objective that reports intermediate values."""
    value = quadratic(params)
    for step in range(3):
        context.report(step, value * (3 - step))
    return value


def sleepy(params: Mapping[str, Any]) -> float:
    """Takes a moment, so parallel workers really overlap."""
    time.sleep(0.05)
    return quadratic(params)


def flaky(params: Mapping[str, Any]) -> float:
    """Raises for negative x, returns NaN for x in [0, 1): both must fail only their trial."""
    x = params["x"]
    if x < 0:
        raise RuntimeError(f"cannot evaluate x={x}")
    if x < 1:
        return math.nan
    return quadratic(params)


def always_fails(params: Mapping[str, Any]) -> float:
    raise ValueError("this objective never works")


def sleep_param(params: Mapping[str, Any]) -> float:
    """Sleeps ``params['sleep_s']`` seconds (a categorical with one choice in the spec), so a test
    can make trials last long enough to kill a worker in the middle of one."""
    time.sleep(float(params.get("sleep_s", 0.1)))
    return quadratic(params)


def sleepy_branin(params: Mapping[str, Any]) -> float:
    """Branin (the bundled spec's x0, x1) after 50 ms, so parallel workers really overlap."""
    from hpo.workers.objectives.synthetic import evaluate

    time.sleep(0.05)
    return evaluate("branin", params)


def sleepy_discrete(params: Mapping[str, Any]) -> float:
    """An int ``a`` and a categorical ``b``, after 50 ms."""
    time.sleep(0.05)
    return float(params["a"]) + (0.5 if params["b"] == "x" else 0.0)


def exits_for_negative_x(params: Mapping[str, Any]) -> float:
    """Calls sys.exit(3) for x < -1 and raises KeyboardInterrupt for x in [-1, 0): a user's
    objective that tries to end the process must fail only its own trial."""
    import sys

    if params["x"] < -1:
        sys.exit(3)
    if params["x"] < 0:
        raise KeyboardInterrupt
    return quadratic(params)


def long_trial(params: Mapping[str, Any], context: TrialContext) -> float:
    """A minute-long trial: even trial numbers report every 0.1 s (so a stop cuts them at the
    next report), odd ones sleep without a word (only the grace period ends them)."""
    for step in range(600):
        if context.trial_number % 2 == 0:
            context.report(step, float(step))
        time.sleep(0.1)
    return quadratic(params)


def never_returns(params: Mapping[str, Any]) -> float:
    """Sleeps for an hour in small steps and never reports: only a cut ends it."""
    for _ in range(36000):
        time.sleep(0.1)
    return quadratic(params)


def saves_artifacts(params: Mapping[str, Any], context: TrialContext) -> float:
    """Saves bytes and a file as artifacts of its trial (``size`` bytes, default 10)."""
    import tempfile
    from pathlib import Path

    context.save_artifact(b"x" * int(params.get("size", 10)), "blob.bin")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notes.txt"
        path.write_text(f"trial {context.trial_number}\n")
        context.save_artifact(path, "notes.txt")
    return quadratic({"x": params.get("x", 0.0)})


def loss_and_size(params: Mapping[str, Any]) -> dict[str, float]:
    """Two objectives of one param in [0, 1], both minimised: every x is on the front; a spec's
    ``size <= 0.6`` makes x > 0.6 infeasible."""
    x = float(params["x"])
    return {"loss": (x - 1.0) ** 2, "size": x}
