"""Fan-out efficiency on 1-second trials, side by side in one run.

efficiency = (N x 1 s / W) / wall, for W parallel workers on a budget of N trials, in three modes
on the same PostgreSQL:

* ``pools``: ``hpo tune --cpu-workers W`` through the deployments: a real ``prefect server``,
  2 ``prefect worker`` processes (``--limit W/2`` each), W trial-worker flow runs;
* ``in-process``: ``hpo tune --workers W``: W worker threads in one flow run;
* ``optuna``: stock Optuna, W processes each running ``study.optimize(n_trials=N/W)`` on an
  ``RDBStorage`` (the usual way to parallelise Optuna on one machine);
* ``docker`` (with ``--docker-image``, and ``DOCKER_HOST`` at a Docker API): ``hpo tune
  --cpu-workers W`` on Docker pools, one ``prefect worker --type docker`` (``--limit W``), W
  trial-worker containers of the image; runs last (the pools become Docker pools).

Two walls per run: ``e2e`` (the command, from launch to exit: process start, Prefect start-up
and supervision included) and ``span`` (first trial start to last trial end, from the study).

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.fanout_efficiency --workers 8 --n-trials 400

Writes the table to docs/fanout-benchmark.md (``--output``). ``--breakdown`` adds each pools
run's timeline (``benchmarks/fanout_timeline.py``: flow runs created, picked up, running, first
trial...). ``--baseline-python PY`` runs the pools mode a second time per round on a fleet of
its own started with ``PY`` (another checkout installed in another venv), old and new
alternating, so a change is measured side by side on the same load; ``--repeat R`` rounds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml

from benchmarks.fanout_timeline import Phase, format_phases, timeline
from hpo.infra.local_fleet import LocalFleet, create_prefect_database
from hpo.store import database_url

PROJECT_DIR = Path(__file__).resolve().parents[1]  # the checkout: benchmarks.objectives lives here

SPEC = {
    "name": "bench-sleep",
    "objective": "benchmarks.objectives:sleep_1s",
    "sampler": "random",
    "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
}


@dataclass(frozen=True)
class Result:
    mode: str
    workers: int
    n_trials: int
    e2e_s: float
    span_s: float
    complete: int
    phases: tuple[Phase, ...] = ()

    @property
    def ideal_s(self) -> float:
        return self.n_trials * 1.0 / self.workers

    def efficiency(self, wall: float) -> float:
        return self.ideal_s / wall


def _span(url: str, study_name: str) -> tuple[float, int]:
    trials = optuna.load_study(study_name=study_name, storage=url).trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    starts = [t.datetime_start for t in done if t.datetime_start]
    ends = [t.datetime_complete for t in done if t.datetime_complete]
    return (max(ends) - min(starts)).total_seconds(), len(done)


def run_hpo(
    fleet: LocalFleet, spec: Path, mode: str, workers: int, n: int, *, breakdown: bool = False
) -> Result:
    study = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    on_pools = mode.startswith(("pools", "docker"))
    flag = ["--cpu-workers", str(workers)] if on_pools else ["--workers", str(workers)]
    cmd = [fleet.python, "-m", "hpo", "tune", str(spec), "--n-trials", str(n), "--study", study]
    t0 = time.time()
    started = time.perf_counter()
    subprocess.run([*cmd, *flag, "--no-progress"], env=fleet.env, cwd=fleet.user_code[0],
                   check=True, capture_output=True)  # fmt: skip
    e2e = time.perf_counter() - started
    t1 = time.time()
    span, complete = _span(fleet.study_db_url, study)
    phases: tuple[Phase, ...] = ()
    if breakdown and on_pools:
        phases = tuple(timeline(fleet.api_url, fleet.study_db_url, study, t0, t1))
    return Result(mode, workers, n, e2e, span, complete, phases)


def _optuna_worker(url: str, study_name: str, n: int) -> None:
    from benchmarks.objectives import sleep_1s

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=url)
    study.optimize(lambda t: sleep_1s({"x": t.suggest_float("x", -3.0, 5.0)}), n_trials=n)


def run_stock_optuna(url: str, workers: int, n: int) -> Result:
    study = f"bench-optuna-{uuid.uuid4().hex[:6]}"
    optuna.create_study(study_name=study, storage=url, sampler=optuna.samplers.RandomSampler())
    ctx = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    procs = [
        ctx.Process(target=_optuna_worker, args=(url, study, n // workers)) for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    e2e = time.perf_counter() - started
    span, complete = _span(url, study)
    return Result("optuna", workers, n, e2e, span, complete)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="8", help="W, or several: 4,8")
    parser.add_argument("--docker-image", help="add the docker mode with this image")
    parser.add_argument("--n-trials", type=int, default=400)
    parser.add_argument("--output", default=str(PROJECT_DIR / "docs" / "fanout-benchmark.md"))
    parser.add_argument(
        "--breakdown", action="store_true", help="the timeline of each pools run (its phases)"
    )
    parser.add_argument(
        "--baseline-python",
        help="also run the pools mode on a second fleet with this interpreter (another checkout"
        " installed in another venv), interleaved with this one: old vs new side by side",
    )
    parser.add_argument(
        "--modes",
        default="pools,in-process,optuna",
        help="which modes to run (docker: see --docker-image)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every mode")
    parser.add_argument(
        "--prefect-workers",
        type=int,
        default=2,
        help="Prefect workers per fleet, each with a limit of W / this (2: they race for runs)",
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = database_url()
    home = Path(tempfile.mkdtemp(prefix="hpo-bench-"))
    spec = home / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    prefect_db, drop_prefect_db = create_prefect_database(url)
    fleet = LocalFleet(
        home=home, study_db_url=url, prefect_db_url=prefect_db, user_code=(PROJECT_DIR,)
    )
    results: list[Result] = []
    widths = [int(w) for w in str(args.workers).split(",")]
    modes = args.modes.split(",")
    fleets = {"pools": fleet}
    if args.baseline_python:
        base_db, drop_base_db = create_prefect_database(url)
        base_dir = _checkout_of(args.baseline_python)
        fleets["pools-baseline"] = LocalFleet(
            home=home / "baseline", study_db_url=url, prefect_db_url=base_db,
            user_code=(base_dir,), python=args.baseline_python,
        )  # fmt: skip
    try:
        for f in fleets.values():
            byte_compile(f)
            f.start_server()
            f.setup()
            for _ in range(args.prefect_workers):
                f.start_worker("cpu", limit=max(1, max(widths) // args.prefect_workers))
        time.sleep(5)  # workers registered and polling
        for round_ in range(args.repeat):
            for w in widths:
                if "pools" in modes:
                    order = list(fleets.items())
                    for name, f in order if round_ % 2 == 0 else order[::-1]:
                        results.append(
                            run_hpo(f, spec, name, w, args.n_trials, breakdown=args.breakdown)
                        )
                        _show(results[-1])
                if "in-process" in modes:
                    results.append(run_hpo(fleet, spec, "in-process", w, args.n_trials))
                    _show(results[-1])
                if "optuna" in modes:
                    results.append(run_stock_optuna(url, w, args.n_trials))
                    _show(results[-1])
        if args.docker_image:
            _to_docker(fleet, args.docker_image, url, max(widths))
            for w in widths:
                results.append(run_hpo(fleet, spec, "docker", w, args.n_trials))
                print(results[-1], flush=True)
    finally:
        for f in fleets.values():
            f.stop()
        drop_prefect_db()
        if args.baseline_python:
            drop_base_db()
    write_report(results, Path(args.output), args)


def _show(r: Result) -> None:
    print(
        f"{r.mode} W={r.workers}: e2e {r.e2e_s:.1f} s ({r.efficiency(r.e2e_s):.1%}), "
        f"span {r.span_s:.1f} s ({r.efficiency(r.span_s):.1%}), {r.complete} complete",
        flush=True,
    )
    if r.phases:
        print("\n".join(format_phases(f"{r.mode} W={r.workers}", list(r.phases))), flush=True)


def byte_compile(fleet: LocalFleet) -> None:
    """Write the bytecode of the fleet's checkout, as ``pip install`` does for an installed
    package: an editable checkout on a machine with ``PYTHONDONTWRITEBYTECODE=1`` (this one's)
    would otherwise compile its modules again in every process (about 1-2 s of CPU for the
    ``hpo tune`` command alone), which no installed fleet pays."""
    subprocess.run(
        [fleet.python, "-m", "compileall", "-q", *map(str, fleet.user_code)],
        check=True, capture_output=True,
    )  # fmt: skip


def _checkout_of(python: str) -> Path:
    """The checkout whose ``hpo`` ``python`` imports (its benchmarks/ go on the fleet's path)."""
    out = subprocess.run(
        [python, "-c", "import hpo, pathlib; print(pathlib.Path(hpo.__file__).parents[1])"],
        cwd="/", capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Path(out.stdout.strip())


def _to_docker(fleet: LocalFleet, image: str, url: str, limit: int) -> None:
    """Stop the process workers, make hpo-cpu a Docker pool of ``image`` (this checkout's
    benchmarks/ mounted for the objective), deploy, start one Docker worker."""
    fleet.stop_workers()
    url_file = fleet.home / "database-url"
    url_file.write_text(url)
    url_file.chmod(0o644)
    fleet.hpo(
        "pools", "create", "--type", "docker", "--kind", "cpu", "--image", image,
        "--url-file", str(url_file), "--env", "PYTHONPATH=/user",
        "--volume", f"{PROJECT_DIR / 'benchmarks'}:/user/benchmarks:ro",
    )  # fmt: skip
    fleet.hpo("deploy", "--target", "docker")
    fleet.start_worker("cpu", limit=limit, worker_type="docker")
    time.sleep(5)


def _load() -> str:
    import os

    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def write_report(results: list[Result], path: Path, args: argparse.Namespace) -> None:
    lines = [
        "# Fan-out efficiency on 1-second trials",
        "",
        "efficiency = (N x 1 s / W) / wall. `e2e`: the whole command (process start, Prefect",
        "start-up, supervision); `span`: first trial start to last trial end.",
        "",
        f"Machine: 2 cores, PostgreSQL 15 on localhost, load average {_load()} at the start."
        f" W = {args.workers}, N = {args.n_trials} (ideal N x 1 s / W)."
        " One run, side by side.",
        "",
        "| mode | W | trials complete | e2e wall (s) | e2e efficiency | span (s) | span eff. |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {r.workers} | {r.complete} | {r.e2e_s:.1f} "
            f"| {r.efficiency(r.e2e_s):.1%} | {r.span_s:.1f} | {r.efficiency(r.span_s):.1%} |"
        )
    for r in results:
        if r.phases:
            lines += ["", *format_phases(f"{r.mode} W={r.workers}: phase", list(r.phases))]
    lines += [
        "",
        "Reproduce:",
        "",
        "```bash",
        "HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\",
        f"    python -m benchmarks.fanout_efficiency --workers {args.workers} "
        f"--n-trials {args.n_trials}"
        + (f" --docker-image {args.docker_image}" if args.docker_image else "")
        + (" --breakdown" if args.breakdown else "")
        + (f" --baseline-python {args.baseline_python}" if args.baseline_python else "")
        + (f" --modes {args.modes} --repeat {args.repeat}" if args.repeat > 1 else ""),
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
