"""Per-trial overhead of artifacts (ms): the service's trial loop with and without them, side by
side in one run, on one PostgreSQL and a directory artifact store.

* ``trivial``: the throughput benchmark's objective (two params, no work,
  ``benchmarks.store_throughput:trivial``); beside it the same objective saving a 10 KB artifact
  per trial (``context.save_artifact``), and one writing a 10 KB checkpoint per trial
  (``context.checkpoint``, removed when the trial ends).
* ``xgboost``: the bundled ``xgboost_breast_cancer`` spec; beside it the same spec with
  ``artifacts: {models: {best_k: 3}}`` (the first fold's model uploaded per trial, then all but
  the best 3 of the study deleted).

One worker (``run_worker``, a thread of this process) per study, random sampler with a fixed
seed, so trial n has the same params in every variant; the variants of a group (trivial,
xgboost) run at the same time, so the load of a shared machine hits them alike. A trial's time
is the gap between its start and the next trial's start (claim, sampling, objective, uploads,
tell, pruning the models: everything); a variant's overhead is its median trial time minus the
baseline's of the same repeat, median over repeats. "In artifact calls" is the time the loop
spent inside the artifact calls (``TrialArtifacts.save``/``store_model``/``checkpoint``/
``restore``/``finish`` and ``keep_best_models``), wrapped with a timer, per trial.

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.artifact_overhead --trials 200 --xgboost-trials 30 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from benchmarks.store_throughput import SPACE, trivial

PAYLOAD = b"\x00" * 10_000


def trivial_saving(params: Mapping[str, Any], context: Any) -> float:
    """``trivial`` that saves a 10 KB artifact (``benchmarks.artifact_overhead:trivial_saving``)."""
    context.save_artifact(PAYLOAD, "blob.bin")
    return trivial(params)


def trivial_checkpointing(params: Mapping[str, Any], context: Any) -> float:
    """``trivial`` that writes a 10 KB checkpoint."""
    context.checkpoint({"weights": PAYLOAD}, step=1)
    return trivial(params)


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "trivial": ("benchmarks.store_throughput:trivial", {}),
    "trivial + save_artifact 10 KB": ("benchmarks.artifact_overhead:trivial_saving", {}),
    "trivial + checkpoint 10 KB": ("benchmarks.artifact_overhead:trivial_checkpointing", {}),
    "xgboost": ("xgboost", {}),
    "xgboost + models best_k=3": ("xgboost", {"artifacts": {"models": {"best_k": 3}}}),
}
BASELINE = {name: name.split(" + ")[0] for name in VARIANTS}


def _timed(spent: dict[str, float], lock: threading.Lock) -> None:
    """Wrap the artifact calls of the trial loop so each adds its time to its study's total."""
    from hpo.workers import artifacts, trial_runner

    def wrap(fn: Any, study_of: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    name = study_of(*args).study_name
                    spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return timed

    for method in ("save", "store_model", "checkpoint", "restore", "finish"):
        original = getattr(artifacts.TrialArtifacts, method)
        setattr(artifacts.TrialArtifacts, method, wrap(original, lambda self, *_: self._study))
    trial_runner.keep_best_models = wrap(  # type: ignore[assignment]
        trial_runner.keep_best_models, lambda study, *_: study
    )


def _run(variant: str, n_trials: int, settings: Any, name: str) -> list[float]:
    """Trial times (s) of one study of ``n_trials`` trials, in trial order."""
    import optuna

    from hpo.search_spaces.loader import load_spec, parse_spec
    from hpo.store import get_storage
    from hpo.study_setup import StudyPlan, open_study
    from hpo.workers.trial_runner import WorkerIdentity, run_worker

    objective, extra = VARIANTS[variant]
    if objective == "xgboost":
        raw = load_spec("xgboost_breast_cancer").model_dump(exclude_defaults=True)
        spec = parse_spec({**raw, **extra})
    else:
        spec = parse_spec({"name": "bench", "objective": objective, "params": SPACE, **extra})
    plan = StudyPlan(study_name=name, spec=spec, sampler="random", n_trials=n_trials, seed=0)
    storage = get_storage(settings)
    open_study(plan, storage)
    run_worker(plan, WorkerIdentity(name="bench", pool="bench"), settings=settings)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    starts = [t.datetime_start for t in sorted(trials, key=lambda t: t.number)]
    assert all(s is not None for s in starts)
    return [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]  # type: ignore[operator]


def _side_by_side(variants: list[str], n_trials: int, settings: Any, spent: dict[str, float]
                  ) -> dict[str, tuple[list[float], float]]:  # fmt: skip
    """Run one study per variant at the same time (one worker thread each): load from other
    processes on the machine hits them alike. Returns trial times and the time spent in
    artifact calls per trial."""
    names = {v: f"artifacts-{uuid.uuid4().hex[:8]}" for v in variants}
    out: dict[str, list[float]] = {}

    def work(variant: str) -> None:
        out[variant] = _run(variant, n_trials, settings, names[variant])

    threads = [threading.Thread(target=work, args=(v,)) for v in variants]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {v: (out[v], spent.get(names[v], 0.0) / n_trials) for v in variants}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per trivial study")
    parser.add_argument("--xgboost-trials", type=int, default=30, help="trials per xgboost study")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import optuna
    from pydantic import SecretStr

    from hpo.settings import ArtifactSettings, DatabaseSettings, HpoSettings, WorkerSettings

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = HpoSettings()
    url = base.database.url.get_secret_value() if base.database.url else None
    spent: dict[str, float] = {}
    _timed(spent, threading.Lock())
    groups = {
        "trivial": [v for v in VARIANTS if v.startswith("trivial")],
        "xgboost": [v for v in VARIANTS if v.startswith("xgboost")],
    }
    gaps: dict[str, list[float]] = {v: [] for v in VARIANTS}
    inside: dict[str, list[float]] = {v: [] for v in VARIANTS}
    overheads: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="hpo-artifact-bench-") as store:
        settings = HpoSettings(
            database=DatabaseSettings(
                url=SecretStr(url) if url else None, pool_size=2 * len(VARIANTS)
            ),
            worker=WorkerSettings(device="cpu"),
            artifacts=ArtifactSettings(store=store),
        )
        for repeat in range(args.repeats):
            for group, variants in groups.items():
                n = args.xgboost_trials if group == "xgboost" else args.trials
                results = _side_by_side(variants, n, settings, spent)
                base_median = statistics.median(results[group][0])
                for v, (times, per_trial) in results.items():
                    gaps[v] += times
                    inside[v].append(per_trial)
                    overheads[v].append(statistics.median(times) - base_median)
                print(f"repeat {repeat + 1}: {group} done", flush=True)

    print("\n| variant | median trial (ms) | overhead per trial (ms) | in artifact calls (ms) |")
    print("|---|---:|---:|---:|")
    for v in VARIANTS:
        median = statistics.median(gaps[v]) * 1000
        over = "baseline" if v in groups else f"{statistics.median(overheads[v]) * 1000:+.1f}"
        print(f"| {v} | {median:.1f} | {over} | {statistics.median(inside[v]) * 1000:.2f} |")


if __name__ == "__main__":
    main()
