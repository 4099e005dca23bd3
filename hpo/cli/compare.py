"""``hpo compare SPEC --samplers a,b,c --n-trials N --seeds K``: compare samplers on one spec
through the ``hpo-compare`` Prefect flow, then print the verdict and where the report is.

Everything that can be wrong with the input (an unknown sampler, CMA-ES on a categorical-only
space, a grid that cannot be built, a group name taken by another comparison...) is refused
before Prefect starts and before any study exists.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import Any

from optuna.storages import RDBStorage
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import bindparam, text

from hpo.cli import startup
from hpo.cli.server import use_local_server
from hpo.compare.hypervolume import parse_reference_point
from hpo.compare.plan import ComparisonPlan, plan_comparison
from hpo.compare.render import table_rows
from hpo.compare.run import comparison_settings
from hpo.errors import ConfigError
from hpo.search_spaces.loader import load_spec, resolve_spec_path
from hpo.store import get_storage, mask_url

MAX_THREADS = 64
MAX_POOL_WORKERS = 64


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help="compare samplers on one spec (one study per seed each)")
    p.add_argument("spec", help="path to a spec YAML, or a bundled spec name")
    p.add_argument(
        "--samplers",
        required=True,
        help="comma-separated sampler names, e.g. grid,random,tpe,gp (also cmaes, qmc)",
    )
    p.add_argument("--n-trials", type=int, help="finished trials per study (default: the spec's)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per sampler: 0..K-1 (default 5)")
    p.add_argument(
        "--workers",
        default="1",
        help="in-process workers per study; several counts (e.g. 1,4) compare them: the arms "
        "become (sampler, workers) pairs labelled tpe@w4",
    )
    p.add_argument("--cpu-workers", type=int, default=0, help="hpo-cpu trial-worker runs per study")
    p.add_argument("--gpu-workers", type=int, default=0, help="hpo-gpu trial-worker runs per study")
    p.add_argument("--group", help="comparison group name (default: <spec name>-cmp-<random>)")
    p.add_argument(
        "--target",
        type=float,
        help="target value for trials/time to target (a hypervolume with several objectives)",
    )
    p.add_argument(
        "--reference-point",
        metavar="M=V,...",
        help="several objectives: the hypervolume reference point, one value per objective "
        "metric (e.g. f1=11,f2=11); wins over the spec's `reference_point`",
    )
    p.add_argument("--output", help="directory of the report files (default artifacts/compare/G)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def plan_from_args(args: argparse.Namespace) -> ComparisonPlan:
    """Validate everything the user gave and plan the studies (no Prefect, no study)."""
    path = resolve_spec_path(args.spec)
    spec = load_spec(path)
    n_trials = args.n_trials if args.n_trials is not None else spec.budget.n_trials
    if args.cpu_workers < 0 or args.gpu_workers < 0:
        raise ConfigError("--cpu-workers and --gpu-workers cannot be negative")
    if args.cpu_workers + args.gpu_workers > MAX_POOL_WORKERS:
        raise ConfigError(
            f"--cpu-workers + --gpu-workers must be at most {MAX_POOL_WORKERS} per study, but "
            f"got {args.cpu_workers + args.gpu_workers}"
        )
    workers = worker_counts(args.workers)
    if _on_pools(args) and len(workers) > 1:
        raise ConfigError(
            f"--workers {args.workers} compares worker counts, which runs in-process only",
            fix="drop --cpu-workers/--gpu-workers, or give --workers one count",
        )
    plan = plan_comparison(
        spec,
        args.samplers.split(","),
        n_trials,
        args.seeds,
        group=args.group,
        source=str(path),
        workers=workers,
        reference_point=_reference_point(args),
    )
    threads = sum(m.workers for m in plan.members)
    if not _on_pools(args) and threads > MAX_THREADS:
        raise ConfigError(
            f"{len(plan.members)} studies with --workers {args.workers} make {threads} "
            f"in-process trial workers, more than {MAX_THREADS}",
            fix="use fewer seeds or workers, or run on the pools with --cpu-workers",
        )
    return plan


def _reference_point(args: argparse.Namespace) -> dict[str, float] | None:
    """``--reference-point`` parsed (None when not given: the spec's or the known one)."""
    return parse_reference_point(args.reference_point) if args.reference_point else None


def worker_counts(raw: str) -> list[int]:
    """``--workers``: one count, or several separated by commas."""
    try:
        counts = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--workers takes a count or comma-separated counts, but got {raw!r}",
            fix="e.g. --workers 4, or --workers 1,4 to compare worker counts",
        ) from None
    if not counts or any(c < 1 for c in counts):
        raise ConfigError(f"--workers must be at least 1, but got {raw!r}")
    return counts


def _on_pools(args: argparse.Namespace) -> bool:
    return bool(args.cpu_workers + args.gpu_workers)


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    on_pools = _on_pools(args)
    threads = 1 if on_pools else sum(m.workers for m in plan.members)
    storage = get_storage(comparison_settings(threads))  # fails fast, URL masked
    console = Console(stderr=True)
    budgets = sum(m.budget for m in plan.members)
    console.print(
        f"comparison [bold]{plan.group}[/] · {', '.join(plan.arms)} x {len(plan.seeds)} "
        f"seeds · {plan.n_trials} trials per study · {len(plan.members)} studies "
        f"({budgets} trials) · store {mask_url(str(storage.url))}"
    )
    if on_pools:
        from hpo.cli.prefect_api import require_server

        require_server()
    else:
        use_local_server(start=True)  # input checked: now a server may start
    stop = threading.Event()
    poller = None
    if not args.no_progress and not args.json:
        poller = threading.Thread(
            target=_progress, args=(plan, storage, stop, console), daemon=True
        )
        poller.start()
    try:
        result = _run_flow(plan, args, threads)
    finally:
        stop.set()
        if poller is not None:
            poller.join()
    report = result.report
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return 0 if report.leader else 1
    print(report.verdict)
    print()
    rows = table_rows(report)
    for row in rows:
        print("  " + " · ".join(f"{k} {v}" for k, v in row.items() if k != "rank"))
    print()
    print(f"report: {result.files.markdown}")
    print(f"plot:   {result.files.png}")
    print(f"python: hpo.compare.load_report({plan.group!r})")
    return 0 if report.leader else 1


def _run_flow(plan: ComparisonPlan, args: argparse.Namespace, threads: int) -> Any:
    from hpo.flows.compare import compare_flow

    startup.settle()

    return compare_flow(
        spec=plan.spec,
        group=plan.group,
        samplers=list(plan.samplers),
        n_trials=plan.n_trials,
        seeds=list(plan.seeds),
        workers_per_study=list(plan.workers) if len(plan.workers) > 1 else plan.workers[0],
        cpu_workers=args.cpu_workers,
        gpu_workers=args.gpu_workers,
        target=args.target,
        output_dir=str(Path(args.output)) if args.output else None,
        reference_point=_reference_point(args),
    )


_FINISHED_SQL = text(
    "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
    "WHERE s.study_name IN :names AND t.state IN ('COMPLETE', 'PRUNED')"
).bindparams(bindparam("names", expanding=True))


def _progress(
    plan: ComparisonPlan, storage: RDBStorage, stop: threading.Event, console: Console
) -> None:
    names = [m.study_name for m in plan.members]
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task_id = bar.add_task(plan.group, total=sum(m.budget for m in plan.members))
        while True:
            done = stop.wait(1.0)
            try:
                with storage.engine.connect() as conn:
                    finished = conn.execute(_FINISHED_SQL, {"names": names}).scalar_one()
            except Exception:  # the store may blip; the flow reports real errors
                if done:
                    return
                continue
            bar.update(task_id, completed=int(finished))
            if done:
                return
