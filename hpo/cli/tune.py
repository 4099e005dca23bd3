"""``hpo tune SPEC``: run a study in-process through the Prefect tune flow, with a progress bar.

Prefect runs the flow against ``PREFECT_API_URL`` when it is set, else against its ephemeral
local server. Everything that can be wrong with the input is checked before Prefect starts.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from optuna.storages import RDBStorage
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hpo.cli import startup
from hpo.cli.server import use_local_server
from hpo.errors import ConfigError
from hpo.search_spaces.checks import check_spec
from hpo.search_spaces.loader import load_spec, resolve_spec_path
from hpo.search_spaces.schema import MAX_SEED, MAX_TRIALS, check_study_name
from hpo.settings import get_settings, sized_for_threads
from hpo.store import get_storage, mask_url
from hpo.study_setup import StudyPlan, check_resume
from hpo.workers.interrupt import request_stop, stop_requested

MAX_WORKERS = 32
MAX_POOL_WORKERS = 64


def register(sub: Any) -> None:
    p = sub.add_parser("tune", help="tune a search-space spec (in-process Prefect flow)")
    p.add_argument("spec", help="path to a spec YAML, or a bundled spec name")
    p.add_argument("--sampler", help="sampler name (default: the spec's)")
    p.add_argument("--n-trials", type=int, help="total finished trials the study must hold")
    p.add_argument("--workers", type=int, default=1, help="parallel trial workers (default 1)")
    p.add_argument(
        "--cpu-workers",
        type=int,
        default=0,
        help="trial-worker runs on the hpo-cpu pool (needs PREFECT_API_URL, pools, deployments)",
    )
    p.add_argument("--gpu-workers", type=int, default=0, help="trial-worker runs on hpo-gpu")
    p.add_argument("--study", help="study name (default: the spec's name); reused to resume")
    p.add_argument(
        "--seed",
        type=int,
        help="sampler seed (default: the spec's seed); trial n draws from its own stream derived "
        "from it, so parallel workers never repeat each other",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--check",
        action="store_true",
        help="validate the spec, the arguments, the store and a resume; start nothing",
    )
    p.set_defaults(handler=run)


def plan_from_args(args: argparse.Namespace) -> StudyPlan:
    """Validate everything the user gave and build the study plan (no Prefect, no trial)."""
    path = resolve_spec_path(args.spec)
    spec = load_spec(path)
    sampler = args.sampler or spec.sampler
    n_trials = args.n_trials if args.n_trials is not None else spec.budget.n_trials
    if not 1 <= n_trials <= MAX_TRIALS:
        raise ConfigError(
            f"--n-trials must be between 1 and {MAX_TRIALS:,}, but got {n_trials:,}",
            fix="give a smaller budget; a study can be resumed with a larger one later",
        )
    seed = args.seed if args.seed is not None else spec.seed
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, but got {seed}")
    study_name = args.study if args.study is not None else spec.name
    try:
        check_study_name(study_name)
    except ValueError as exc:
        raise ConfigError(f"--study: {exc}") from None
    if args.cpu_workers < 0 or args.gpu_workers < 0:
        raise ConfigError("--cpu-workers and --gpu-workers cannot be negative")
    if args.cpu_workers + args.gpu_workers > MAX_POOL_WORKERS:
        raise ConfigError(
            f"--cpu-workers + --gpu-workers must be at most {MAX_POOL_WORKERS}, but got "
            f"{args.cpu_workers + args.gpu_workers}",
            fix="each trial worker holds up to 6 store connections; see infra/README.md",
        )
    if not 1 <= args.workers <= MAX_WORKERS:
        raise ConfigError(
            f"--workers must be between 1 and {MAX_WORKERS}, but got {args.workers}",
            fix="for more, start Prefect workers on the work pools (see infra/README.md)",
        )
    check_spec(spec, sampler, source=str(path))
    return StudyPlan(
        study_name=study_name, spec=spec, sampler=sampler, n_trials=n_trials, seed=seed
    )


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    # Fails fast, with a masked URL, if the store is unreachable. Sized like the flow's own
    # engine so this process keeps one engine.
    storage = get_storage(sized_for_threads(get_settings(), args.workers))
    check_resume(plan, storage)  # a resume that contradicts the study: exit 2, nothing written
    console = Console(stderr=True)
    where = (
        f"{args.cpu_workers} cpu + {args.gpu_workers} gpu worker run(s) on the pools"
        if args.cpu_workers + args.gpu_workers
        else f"{args.workers} in-process worker(s)"
    )
    console.print(
        f"study [bold]{plan.study_name}[/] · sampler {plan.sampler} · budget {plan.n_trials} "
        f"finished trials · {where} · store {mask_url(str(storage.url))}"
    )
    done = _finished_so_far(storage, plan.study_name)
    if done is not None:  # a resume: say where it stands
        console.print(
            f"resuming: {done} finished trial(s) already, {max(plan.n_trials - done, 0)} to go"
        )
    if args.check:
        console.print("check passed: nothing was started")
        return 0
    on_pools = args.cpu_workers + args.gpu_workers > 0
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
    previous = signal.signal(signal.SIGINT, lambda *_: _on_ctrl_c(console))
    try:
        result = _run_flow(plan, args, on_pools)
    finally:
        signal.signal(signal.SIGINT, previous)
        stop.set()
        if poller is not None:
            poller.join()
    summary = result.summary
    counts, best = summary.counts, summary.best_trial
    if stop_requested():
        print(
            f"interrupted: study {plan.study_name!r} holds {counts.finished} of "
            f"{plan.n_trials} finished trials; run the same command again to resume it",
            file=sys.stderr,
        )
        _exit(130)
    short = _shortfall(plan, counts.finished, result)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        console.print(
            f"finished: {counts.finished}/{plan.n_trials} "
            f"(complete {counts.complete}, pruned {counts.pruned}, failed {counts.fail})"
        )
        if plan.spec.multi_objective:  # several objectives: a front, not one best trial
            print(f"Pareto front: hpo studies front {plan.study_name}")
        elif best is not None and best.value is not None:
            metric = plan.spec.metric or "value"
            print(f"best {metric}: {best.value:.6g} (trial {best.number})")
            print("best params: " + json.dumps(best.params, sort_keys=True))
    if short is not None:  # exit 0 promises N finished trials: anything else says what is missing
        print(f"error: {short}", file=sys.stderr)
        return 1
    return 0


def _on_ctrl_c(console: Console) -> None:
    """First Ctrl-C: stop claiming, let running trials end (or cut them) within the grace;
    the second one: quit now (this process's running trials are failed by the next run)."""
    if stop_requested():
        print("interrupted again: quitting now", file=sys.stderr)
        _exit(130, now=True)
    request_stop()
    grace = get_settings().worker.interrupt_grace_s
    console.print(
        f"stopping: no new trials; running trials are cut at their next report or failed in "
        f"{grace:.0f} s (Ctrl-C again to quit now)"
    )


def _exit(code: int, *, now: bool = False) -> None:
    """Exit with ``code``. ``now``, or while a worker thread still runs an objective that never
    returns (the interpreter would wait for it): flush, stop a temporary Prefect server this
    process started, and leave without waiting for threads."""
    stray = any(
        t.is_alive() and t is not threading.main_thread() and not t.daemon
        for t in threading.enumerate()
    )
    if not (now or stray):
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        server_module = sys.modules.get("prefect.server.api.server")  # started one only if loaded
        if server_module is not None:
            for server in list(server_module.SubprocessASGIServer._instances.values()):
                server.stop()
    finally:
        os._exit(code)


def _finished_so_far(storage: RDBStorage, study_name: str) -> int | None:
    """Finished trials of an existing study, or None for a new one."""
    from hpo.claims import count_trials

    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return None
    return count_trials(storage, study_id).finished


_NORMAL_STOPS = {"", "budget reached", "grid exhausted or budget reached", "budget taken"}


def _shortfall(plan: StudyPlan, finished: int, result: Any) -> str | None:
    """Why the study holds fewer finished trials than promised, or None when it holds them
    (a grid promises its points up to the budget). ``result`` is the tune flow's (its
    workers say why each stopped) or the pools flow's (one reason)."""
    promised = plan.n_trials
    if plan.sampler == "grid":
        promised = min(promised, plan.spec.grid_size())
    if finished >= promised:
        return None
    stops = {getattr(w, "stopped_because", "") for w in result.workers}
    stops.add(getattr(result, "reason", ""))
    why = "; ".join(sorted(stops - _NORMAL_STOPS)) or "the workers stopped early"
    return (
        f"study {plan.study_name!r} holds {finished} of {promised} finished trials ({why}); "
        "run the same command again to resume it"
    )


def _run_flow(plan: StudyPlan, args: argparse.Namespace, on_pools: bool) -> Any:
    common: dict[str, Any] = {
        "spec": plan.spec,
        "study_name": plan.study_name,
        "sampler": plan.sampler,
        "n_trials": plan.n_trials,
        "seed": plan.seed,
    }
    from prefect import tags

    # Flow-run tags carry the study and the sampler: filter on them in the Prefect UI.
    with tags("hpo", f"study:{plan.study_name}", f"sampler:{plan.sampler}"):
        if on_pools:
            from hpo.flows.tune_pools import tune_on_pools_flow

            startup.settle()
            return tune_on_pools_flow(
                **common, cpu_workers=args.cpu_workers, gpu_workers=args.gpu_workers
            )
        from prefect.task_runners import ThreadPoolTaskRunner

        from hpo.flows.tune import tune_flow

        startup.settle()
        runner: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=args.workers)
        # Prefect types task_runner as TaskRunner[PrefectFuture]; its thread runner does not fit.
        flow = tune_flow.with_options(task_runner=runner)  # type: ignore[arg-type]
        return flow(**common, workers=args.workers)


def _progress(
    plan: StudyPlan, storage: RDBStorage, stop: threading.Event, console: Console
) -> None:
    from hpo.claims import count_trials

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("running {task.fields[running]} · failed {task.fields[failed]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task_id = bar.add_task(plan.study_name, total=plan.n_trials, running=0, failed=0)
        while True:
            done = stop.wait(0.5)
            try:
                sid = storage.get_study_id_from_name(plan.study_name)
                counts = count_trials(storage, sid)
            except Exception:  # the study may not exist yet; the store may blip
                if done:
                    return
                continue
            bar.update(
                task_id,
                completed=counts.finished,
                running=counts.running,
                failed=counts.fail,
            )
            if done:
                return
