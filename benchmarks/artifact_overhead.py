"""Per-trial overhead of artifacts (ms): the service's trial loop with and without them, side by
side in one run, on one PostgreSQL and a directory artifact store.

* ``trivial``: the throughput benchmark's objective (two params, no work,
  ``benchmarks.store_throughput:trivial``); beside it the same objective saving a 10 KB artifact
  per trial (``context.save_artifact``), and one writing a 10 KB checkpoint per trial
  (``context.checkpoint``, removed when the trial ends).
* ``xgboost``: the bundled ``xgboost_breast_cancer`` spec; beside it the same spec with
  ``artifacts: {models: {best_k: 3}}`` (the first fold's model uploaded per trial, then all but
  the best 3 of the study deleted).

One worker (``run_worker``, in this process) per study, random sampler with a fixed seed, so trial
n has the same params in every variant. A trial's time is the gap between its start and the next
trial's start (claim, sampling, objective, uploads, tell, pruning the models: everything). The
overhead of a variant is the median over trials and repeats of its trial n's time minus the
baseline's trial n's time in the same repeat; repeats interleave the variants, so the load of a
shared machine hits them alike.

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.artifact_overhead --trials 200 --xgboost-trials 30 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
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


def _run(variant: str, n_trials: int, settings: Any) -> list[float]:
    """Trial times (s) of one study of ``n_trials`` trials, in trial order."""
    import optuna

    from hpo.search_spaces.loader import load_spec, parse_spec
    from hpo.store import get_storage
    from hpo.studies import StudyPlan, open_study
    from hpo.workers.trial_runner import WorkerIdentity, run_worker

    objective, extra = VARIANTS[variant]
    if objective == "xgboost":
        raw = load_spec("xgboost_breast_cancer").model_dump(exclude_defaults=True)
        spec = parse_spec({**raw, **extra})
    else:
        spec = parse_spec({"name": "bench", "objective": objective, "params": SPACE, **extra})
    name = f"artifacts-{uuid.uuid4().hex[:8]}"
    plan = StudyPlan(study_name=name, spec=spec, sampler="random", n_trials=n_trials, seed=0)
    storage = get_storage(settings)
    open_study(plan, storage)
    run_worker(plan, WorkerIdentity(name="bench", pool="bench"), settings=settings)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    starts = [t.datetime_start for t in sorted(trials, key=lambda t: t.number)]
    assert all(s is not None for s in starts)
    return [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]  # type: ignore[operator]


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
    times: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="hpo-artifact-bench-") as store:
        settings = HpoSettings(
            database=DatabaseSettings(url=SecretStr(url) if url else None),
            worker=WorkerSettings(device="cpu"),
            artifacts=ArtifactSettings(store=store),
        )
        for repeat in range(args.repeats):
            for variant in VARIANTS:
                n = args.xgboost_trials if variant.startswith("xgboost") else args.trials
                times[variant].append(_run(variant, n, settings))
                print(f"repeat {repeat + 1}: {variant} done", flush=True)

    print("\n| variant | median trial (ms) | overhead per trial (ms, median of paired diffs) |")
    print("|---|---:|---:|")
    for variant, runs in times.items():
        median = statistics.median(t for run in runs for t in run) * 1000
        base_runs = times[BASELINE[variant]]
        if BASELINE[variant] == variant:
            overhead = "baseline"
        else:
            diffs = [a - b for run, ref in zip(runs, base_runs, strict=True)
                     for a, b in zip(run, ref, strict=True)]  # fmt: skip
            overhead = f"{statistics.median(diffs) * 1000:+.2f}"
        print(f"| {variant} | {median:.2f} | {overhead} |")


if __name__ == "__main__":
    main()
