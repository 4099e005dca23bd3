"""What MLflow logging costs per trial, side by side in one run: the trial loop with MLflow off
and on, on the throughput benchmark's trivial objective and on the bundled xgboost spec.

A real ``mlflow server`` is started for the run (``hpo.tracking.testing``: its backend store is
a new database on the study store's PostgreSQL, artifacts in a temporary directory), as a team
would run it beside the study store. Each configuration runs a fresh study of N trials with one
in-process worker (``run_worker``, random sampler), repeats interleaved so that load on a shared
machine hits both alike. Reported, medians over the trials of all repeats:

* ``log ms``: the time the worker's logging thread spends on one finished trial
  (``TrialLogger.log``: the claim in PostgreSQL, three MLflow calls, the release); the trial
  loop does not wait for it, it goes on with the next trial;
* ``wall ms/trial``: the worker's wall time divided by its trials (study run creation and the
  final wait for the logging thread included), off and on: what a study pays.

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/hpo_42 \\
        python -m benchmarks.mlflow_overhead --trivial-trials 200 --xgboost-trials 12 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import SecretStr

from hpo.search_spaces.loader import load_spec, parse_spec, resolve_spec_path
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.settings import HpoSettings, MlflowSettings, get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.tracking import trials
from hpo.tracking.testing import mlflow_server
from hpo.workers.trial_runner import WorkerIdentity, run_worker

TRIVIAL = {
    "name": "trivial",
    "objective": "benchmarks.objectives:trivial",
    "params": {
        "x": {"type": "float", "low": -3.0, "high": 5.0},
        "y": {"type": "int", "low": -3, "high": 3},
    },
}

_hook_ms: list[float] = []
_log = trials.TrialLogger.log


def _timed_log(self: trials.TrialLogger, trial_id: int, number: int) -> None:
    started = time.perf_counter()
    _log(self, trial_id, number)
    _hook_ms.append((time.perf_counter() - started) * 1000)


trials.TrialLogger.log = _timed_log  # type: ignore[method-assign]


def run_once(spec: SearchSpaceSpec, n_trials: int, settings: HpoSettings) -> float:
    """Wall seconds of one worker running a fresh study of ``n_trials``."""
    plan = StudyPlan(
        study_name=f"bench-mlflow-{uuid.uuid4().hex[:8]}", spec=spec, sampler="random",
        n_trials=n_trials, seed=0,
    )  # fmt: skip
    open_study(plan, get_storage(settings))
    started = time.perf_counter()
    report = run_worker(plan, WorkerIdentity(name="bench"), settings=settings)
    seconds = time.perf_counter() - started
    assert report.counts.complete == n_trials, report
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial-trials", type=int, default=200)
    parser.add_argument("--xgboost-trials", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    base = get_settings()
    url = base.database.url
    assert url is not None, "set HPO_DATABASE_URL (a PostgreSQL with a TCP host)"
    specs = {
        "trivial": (parse_spec(TRIVIAL), args.trivial_trials),
        "xgboost": (load_spec(resolve_spec_path("xgboost_breast_cancer")), args.xgboost_trials),
    }
    rows: dict[tuple[str, str], dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as work:
        with mlflow_server(url.get_secret_value(), Path(work)) as server:
            on = base.model_copy(
                update={
                    "mlflow": MlflowSettings(
                        tracking_uri=SecretStr(server.uri), experiment="overhead-benchmark"
                    )
                }
            )
            off = base.model_copy(update={"mlflow": MlflowSettings(tracking_uri=None)})
            run_once(specs["trivial"][0], 5, on)  # warm-up: imports, experiment, connections
            for repeat in range(args.repeats):
                for name, (spec, n) in specs.items():
                    for mode, settings in (("off", off), ("on", on)):
                        _hook_ms.clear()
                        seconds = run_once(spec, n, settings)
                        row = rows.setdefault((name, mode), {"wall": [], "hook": []})
                        row["wall"].append(seconds * 1000 / n)
                        row["hook"].extend(_hook_ms)
                        print(
                            f"repeat {repeat + 1} {name:8s} mlflow {mode:3s}: "
                            f"{seconds * 1000 / n:8.1f} ms/trial", flush=True
                        )  # fmt: skip
    print()
    print("| objective | trials x repeats | wall ms/trial, MLflow off | on | difference "
          "| log ms per trial (median) | p90 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (_spec, n) in specs.items():
        off_wall = statistics.median(rows[(name, "off")]["wall"])
        on_wall = statistics.median(rows[(name, "on")]["wall"])
        hook = rows[(name, "on")]["hook"]
        p90 = statistics.quantiles(hook, n=10)[-1] if len(hook) >= 10 else max(hook)
        print(
            f"| {name} | {n} x {args.repeats} | {off_wall:.1f} | {on_wall:.1f} | "
            f"{on_wall - off_wall:+.1f} | {statistics.median(hook):.1f} | {p90:.1f} |"
        )


if __name__ == "__main__":
    main()
