"""Search quality under parallel workers: simple regret at a fixed budget for W = 1, 4, 8.

For each known-optimum function (the bundled ``branin`` and ``hartmann6`` specs), sampler and
seed, one study of ``--n-trials`` trials is run by W worker threads through the service's own
trial loop (:func:`hpo.workers.trial_runner.run_worker`, the in-process ``hpo tune --workers W``
path, exact budget claims on the real PostgreSQL store). The objective is the bundled function
after a 0.1 s sleep (``benchmarks.objectives:slow_*``), so W trials really overlap and a sampler
asked for a trial sees up to W - 1 RUNNING ones: TPE through its constant liar, GP through its
q-batch acquisition (qLogEI over the running trials' params), random ignores them.

Simple regret = best value found - known minimum. Reported per (function, sampler, W): the
median over seeds, the median number of distinct params (must equal the budget: issue 11), and
the measured overlap (trial-seconds / study wall: how many trials ran at once on average). Then
the targets: at the largest W, TPE and GP against random at W = 1 (two-sided Mann-Whitney on the
seeds' regrets, :func:`hpo.compare.stats.mann_whitney_p`) and against themselves at W = 1
(ratio of median regrets, at most 2).

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test nice -n 10 \\
        python -m benchmarks.parallel_quality --seeds 0 1 2 3 4 --workers 1 4 8

Every run is appended to ``--raw`` (JSON lines) as it finishes; the tables are printed at the end
(and rebuilt from the raw file alone with ``--report-only``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
FUNCTIONS = {"branin": 60, "hartmann6": 60}  # function -> trials per study
SAMPLERS = ("random", "tpe", "gp")


@dataclass(frozen=True)
class Run:
    function: str
    sampler: str
    workers: int
    seed: int
    n_trials: int
    complete: int
    distinct: int
    best: float
    regret: float
    overlap: float
    wall_s: float


def run_study(function: str, sampler: str, workers: int, seed: int, n_trials: int) -> Run:
    """One study, ``workers`` threads of the real trial loop against the store."""
    import optuna

    from hpo.search_spaces.loader import load_spec
    from hpo.settings import get_settings, sized_for_threads
    from hpo.store import get_storage
    from hpo.study_setup import StudyPlan, open_study
    from hpo.workers.objectives.synthetic import synthetic_function
    from hpo.workers.trial_runner import WorkerIdentity, run_worker

    spec = load_spec(function).model_copy(
        update={"objective": f"benchmarks.objectives:slow_{function}"}
    )
    name = f"bench-parallel-{function}-{sampler}-w{workers}-s{seed}-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(study_name=name, spec=spec, sampler=sampler, n_trials=n_trials, seed=seed)
    settings = sized_for_threads(get_settings(), workers)
    storage = get_storage(settings)
    open_study(plan, storage)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            run_worker(plan, WorkerIdentity(name=f"w{i}"), settings=settings)
        except BaseException as exc:  # noqa: B036 - re-raised below
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(float(t.value) for t in done if t.value is not None)
    busy = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in done
        if t.datetime_start and t.datetime_complete
    )
    starts = [t.datetime_start for t in done if t.datetime_start]
    ends = [t.datetime_complete for t in done if t.datetime_complete]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    distinct = len({json.dumps(t.params, sort_keys=True) for t in done})
    return Run(
        function=function,
        sampler=sampler,
        workers=workers,
        seed=seed,
        n_trials=n_trials,
        complete=len(done),
        distinct=distinct,
        best=best,
        regret=best - synthetic_function(function).optimum,
        overlap=busy / span if span else 1.0,
        wall_s=round(wall, 2),
    )


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def report(runs: list[Run], worker_counts: list[int]) -> str:
    """The markdown tables: medians per cell, then the targets."""
    from hpo.compare.stats import mann_whitney_p

    def regrets(function: str, sampler: str, workers: int) -> list[float]:
        return [
            r.regret
            for r in runs
            if (r.function, r.sampler, r.workers) == (function, sampler, workers)
        ]

    functions = [f for f in FUNCTIONS if any(r.function == f for r in runs)]
    seeds = sorted({r.seed for r in runs})
    lines = [
        f"Median simple regret over seeds {', '.join(map(str, seeds))} "
        "(distinct params / trials; overlap = trials running at once, on average):",
        "",
        "| function | sampler | " + " | ".join(f"W = {w}" for w in worker_counts) + " |",
        "|---|---|" + "---|" * len(worker_counts),
    ]
    for function in functions:
        for sampler in SAMPLERS:
            cells = []
            for w in worker_counts:
                cell = [
                    r for r in runs if (r.function, r.sampler, r.workers) == (function, sampler, w)
                ]
                if not cell:
                    cells.append("-")
                    continue
                distinct = min(r.distinct for r in cell)
                n = cell[0].n_trials
                overlap = _median([r.overlap for r in cell])
                regret = _median([r.regret for r in cell])
                cells.append(f"{regret:.4g} ({distinct}/{n}; {overlap:.1f})")
            lines.append(f"| {function} | {sampler} | " + " | ".join(cells) + " |")
    top = max(worker_counts)
    lines += [
        "",
        f"Targets at W = {top} (Mann-Whitney two-sided p against random at W = 1; "
        f"ratio = median regret at W = {top} / at W = 1, target <= 2; random: target <= 2 too, "
        "since it ignores the other workers):",
        "",
        "| function | sampler | median regret W = 1 | "
        f"median regret W = {top} | ratio | p vs random W = 1 | beats random W = 1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for function in functions:
        base = regrets(function, "random", 1)
        for sampler in SAMPLERS:
            one, many = regrets(function, sampler, 1), regrets(function, sampler, top)
            if not one or not many or not base:
                continue
            ratio = _median(many) / _median(one) if _median(one) > 0 else float("inf")
            p = mann_whitney_p(many, base)
            beats = p < 0.05 and _median(many) < _median(base)
            lines.append(
                f"| {function} | {sampler} | {_median(one):.4g} | {_median(many):.4g} | "
                f"{ratio:.2f} | {p:.3g} | {'yes' if beats else 'no'} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS))
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--raw", default="parallel_quality.jsonl")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT_DIR))
    raw = Path(args.raw)
    if not args.report_only:
        import optuna

        from hpo.settings import apply_prefect_defaults

        apply_prefect_defaults()
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        for function in args.functions:
            for seed in args.seeds:
                for sampler in args.samplers:
                    for workers in args.workers:
                        run = run_study(function, sampler, workers, seed, FUNCTIONS[function])
                        with raw.open("a") as out:
                            out.write(json.dumps(asdict(run)) + "\n")
                        print(json.dumps(asdict(run)), flush=True)
    runs = [Run(**json.loads(line)) for line in raw.read_text().splitlines() if line.strip()]
    print(report(runs, args.workers))


if __name__ == "__main__":
    main()
