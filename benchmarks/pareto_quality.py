"""Front quality on ZDT1: median hypervolume regret at a fixed budget, per sampler.

For each sampler and seed, one study of the bundled ``zdt1`` spec (10 params, two objectives,
known front f2 = 1 - sqrt(f1)) runs ``--n-trials`` trials through the service's own trial loop
(:func:`hpo.workers.trial_runner.run_worker`, the in-process ``hpo tune`` path: exact budget
claims on the real PostgreSQL store, one worker). Hypervolume regret = the true front's
hypervolume minus the found front's, against the reference point (11, 11)
(:func:`hpo.pareto.hypervolume_regret`; 0 = the front was found). Reported: the median over seeds
per sampler, and a two-sided Mann-Whitney test (scipy) of each sampler's regrets against random's.

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/hpo_15 nice -n 10 \\
        python -m benchmarks.pareto_quality --seeds 0 1 2 3 4 --n-trials 100

Every run is appended to ``--raw`` (JSON lines) as it finishes (seed by seed, every sampler), so
an interrupted run still reports what it has (``--report-only``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

SAMPLERS = ("random", "nsga2", "tpe", "gp")
PROBLEM = "zdt1"


@dataclass(frozen=True)
class Run:
    sampler: str
    seed: int
    n_trials: int
    complete: int
    distinct: int
    front_size: int
    regret: float
    wall_s: float


def run_study(sampler: str, seed: int, n_trials: int) -> Run:
    import optuna

    from hpo.pareto import hypervolume_regret, pareto_front
    from hpo.search_spaces.loader import load_spec
    from hpo.store import get_storage
    from hpo.study_setup import StudyPlan, open_study
    from hpo.workers.trial_runner import WorkerIdentity, run_worker

    spec = load_spec(PROBLEM)
    name = f"bench-pareto-{PROBLEM}-{sampler}-s{seed}-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(study_name=name, spec=spec, sampler=sampler, n_trials=n_trials, seed=seed)
    storage = get_storage()
    open_study(plan, storage)
    started = time.perf_counter()
    run_worker(plan, WorkerIdentity(name="w0"))
    wall = time.perf_counter() - started
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    front = pareto_front(done, plan.directions)
    return Run(
        sampler=sampler,
        seed=seed,
        n_trials=n_trials,
        complete=len(done),
        distinct=len({json.dumps(t.params, sort_keys=True) for t in done}),
        front_size=len(front),
        regret=hypervolume_regret(PROBLEM, [list(t.values) for t in front]),
        wall_s=round(wall, 2),
    )


def report(runs: list[Run]) -> str:
    from scipy.stats import mannwhitneyu

    seeds = sorted({r.seed for r in runs})
    base = [r.regret for r in runs if r.sampler == "random"]
    lines = [
        f"Median hypervolume regret on {PROBLEM} over seeds {', '.join(map(str, seeds))} "
        "(reference point (11, 11); optimal hypervolume 120.667):",
        "",
        "| sampler | seeds | trials | median regret | min-max | median front size "
        "| median wall s | p vs random | beats random |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for sampler in SAMPLERS:
        cell = [r for r in runs if r.sampler == sampler]
        if not cell:
            continue
        regrets = [r.regret for r in cell]
        median = statistics.median(regrets)
        if sampler != "random" and len(base) >= 2 and len(regrets) >= 2:
            p = float(mannwhitneyu(regrets, base, alternative="two-sided").pvalue)
            beats = "yes" if p < 0.05 and median < statistics.median(base) else "no"
            p_text = f"{p:.3g}"
        else:
            p_text, beats = "-", "-"
        lines.append(
            f"| {sampler} | {len(cell)} | {min(r.complete for r in cell)}"
            f"/{cell[0].n_trials} | {median:.4g} | {min(regrets):.4g}-{max(regrets):.4g} | "
            f"{statistics.median(r.front_size for r in cell):g} | "
            f"{statistics.median(r.wall_s for r in cell):.1f} | {p_text} | {beats} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-trials", type=int, default=100)
    parser.add_argument("--raw", default="pareto_quality.jsonl")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    raw = Path(args.raw)
    if not args.report_only:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        for seed in args.seeds:
            for sampler in args.samplers:
                run = run_study(sampler, seed, args.n_trials)
                with raw.open("a") as f:
                    f.write(json.dumps(asdict(run)) + "\n")
                print(json.dumps(asdict(run)), flush=True)
    runs = [Run(**json.loads(line)) for line in raw.read_text().splitlines() if line.strip()]
    print(report(runs))
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
