"""Pruning at equal budget: boosting rounds run and best value reached, per pruner.

For each bundled spec and seed, the same study is run with each pruner named in the spec schema
(``none``, ``median``, ``successive_halving``, ``hyperband``, Optuna's default options) at the
same budget (``--n-trials`` finished trials, TPE seeded alike, one worker: the service's trial
loop, ``run_worker``). The built-in objectives report the validation score of the first fold
every 10 boosting rounds; a pruned trial stops there and skips its other folds.

Rounds actually run, per trial: a PRUNED trial ran as many rounds as its last reported step
(``trial_intermediate_values``), all on the first fold; a COMPLETE trial ran ``n_estimators``
rounds on each of the ``cv_folds`` folds. Compute saved = rounds without pruning / rounds with
it; value lost = how much worse the study's best value is than without pruning, in % (negative:
better). Medians over seeds; every run is also printed.

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.pruning --n-trials 60 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PRUNERS = ("none", "median", "successive_halving", "hyperband")
DEFAULT_ESTIMATORS = 100  # the built-in objectives' default n_estimators


@dataclass(frozen=True)
class Run:
    spec: str
    pruner: str
    seed: int
    complete: int
    pruned: int
    rounds: int
    trial_seconds: float
    best_value: float
    direction: str


def run_study(spec_name: str, pruner: str, seed: int, n_trials: int) -> Run:
    """One study of ``spec_name`` with ``pruner`` (in a worker process)."""
    sys.path.insert(0, str(PROJECT_DIR))
    import optuna

    from hpo.settings import apply_prefect_defaults

    apply_prefect_defaults()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from hpo.search_spaces.loader import load_spec
    from hpo.settings import HpoSettings, WorkerSettings, get_settings
    from hpo.store import get_storage
    from hpo.study_setup import StudyPlan, open_study
    from hpo.workers.trial_runner import WorkerIdentity, run_worker

    spec = load_spec(spec_name)
    spec = spec.model_copy(
        update={
            "pruner": spec.pruner.model_copy(update={"name": pruner, "options": {}}),
            "seed": seed,
        }
    )
    settings: HpoSettings = get_settings().model_copy(
        update={"worker": WorkerSettings(device="cpu", threads=1)}
    )
    name = f"bench-prune-{spec.name}-{pruner}-s{seed}-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(study_name=name, spec=spec, sampler="tpe", n_trials=n_trials, seed=seed)
    storage = get_storage(settings)
    open_study(plan, storage)
    run_worker(plan, WorkerIdentity(name=f"prune-{seed}", pool="bench"), settings=settings)

    study = optuna.load_study(study_name=name, storage=str(storage.url))  # as stock Optuna reads
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    rounds = sum(
        int(t.params.get("n_estimators", DEFAULT_ESTIMATORS)) * spec.cv_folds for t in complete
    ) + sum(int(t.last_step or 0) for t in pruned)
    seconds = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in complete + pruned
        if t.datetime_complete and t.datetime_start
    )
    return Run(
        spec=spec_name,
        pruner=pruner,
        seed=seed,
        complete=len(complete),
        pruned=len(pruned),
        rounds=rounds,
        trial_seconds=round(seconds, 1),
        best_value=float(study.best_value),
        direction=study.direction.name.lower(),
    )


def loss_percent(base: Run, run: Run) -> float:
    """How much worse ``run``'s best value is than ``base``'s, in % (negative: better)."""
    worse = base.best_value - run.best_value
    if base.direction == "minimize":
        worse = -worse
    return 100.0 * worse / abs(base.best_value)


def markdown(runs: list[Run]) -> str:
    lines = [
        "| spec | pruner | pruned trials | boosting rounds | rounds saved (none / pruner) "
        "| trial time saved | best value | value lost | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(r.spec, r.pruner, r.seed): r for r in runs}
    for spec in sorted({r.spec for r in runs}):
        for pruner in PRUNERS:
            mine = [r for r in runs if (r.spec, r.pruner) == (spec, pruner)]
            pairs = [(by_key.get((spec, "none", r.seed)), r) for r in mine]
            pairs_ok = [(b, r) for b, r in pairs if b is not None]
            if not mine or not pairs_ok:
                continue
            saved = statistics.median(b.rounds / r.rounds for b, r in pairs_ok)
            time_saved = statistics.median(b.trial_seconds / r.trial_seconds for b, r in pairs_ok)
            lost = statistics.median(loss_percent(b, r) for b, r in pairs_ok)
            lines.append(
                f"| {spec} | {pruner} | {statistics.median(r.pruned for r in mine):.0f} "
                f"of {mine[0].complete + mine[0].pruned} "
                f"| {statistics.median(r.rounds for r in mine):,.0f} | {saved:.1f}x "
                f"| {time_saved:.1f}x | {statistics.median(r.best_value for r in mine):.4f} "
                f"| {lost:+.2f} % | {len(mine)} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["xgboost_breast_cancer", "lightgbm_wine"])
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS), choices=PRUNERS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-trials", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2, help="studies run at once")
    args = parser.parse_args(argv)

    print(f"load before: {os.getloadavg()}", flush=True)
    tasks = [(s, p, seed) for s in args.specs for seed in args.seeds for p in args.pruners]
    ctx = multiprocessing.get_context("spawn")
    runs: list[Run] = []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        futures = [pool.submit(run_study, s, p, seed, args.n_trials) for s, p, seed in tasks]
        for future in futures:
            run = future.result()
            print(f"  {run}", flush=True)
            runs.append(run)
    print(f"load after: {os.getloadavg()}", flush=True)
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
