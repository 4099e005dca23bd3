"""``hpo studies list|show|trials|best|front|export|importances``: read the study store.

Tables for people, ``--json`` for scripts (the :mod:`hpo.query` models, as JSON). Everything is
read-only and safe while studies run. Exit codes: 0 done, 1 nothing to show (no COMPLETE trial
for ``best``), 2 bad input or an unreachable store (``hpo.cli.main``).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hpo.cli import plots, tables, tracking
from hpo.cli.tables import Col
from hpo.errors import ConfigError
from hpo.query import (
    EXPORT_FORMATS,
    SORT_KEYS,
    STUDY_STATES,
    Page,
    StudyClient,
    StudyInfo,
    StudySummary,
    TrialRecord,
)


def register(sub: Any) -> None:
    p = sub.add_parser("studies", help="list and query studies (read-only)")
    actions = p.add_subparsers(dest="studies_command", required=True, metavar="ACTION")

    ls = actions.add_parser("list", help="studies, newest first")
    ls.add_argument("--name", help="name pattern: `xgb-*`, or a substring")
    ls.add_argument("--sampler", help="only studies with this sampler (hpo.sampler)")
    ls.add_argument("--state", choices=STUDY_STATES, help="only studies in this state")
    _page_args(ls, limit=50)
    ls.set_defaults(handler=run_list)

    show = actions.add_parser(
        "show", help="one study: counts, best trial, pace, devices, duplicate params"
    )
    show.add_argument("name", help="study name")
    _json_arg(show)
    show.set_defaults(handler=run_show)

    trials = actions.add_parser("trials", help="a page of a study's trials")
    trials.add_argument("name", help="study name")
    trials.add_argument(
        "--state", action="append", help="complete, pruned, fail, running, waiting (repeatable)"
    )
    trials.add_argument(
        "--sort", default="number", choices=SORT_KEYS, help="order (default: number)"
    )
    trials.add_argument(
        "--param",
        action="append",
        metavar="NAME=LOW:HIGH",
        help="keep trials with LOW <= NAME <= HIGH (an empty bound is open); a categorical "
        "param takes choices: NAME=a,b (repeatable)",
    )
    trials.add_argument("--value", metavar="LOW:HIGH", help="keep trials with a value in range")
    _page_args(trials, limit=20)
    trials.set_defaults(handler=run_trials)

    best = actions.add_parser("best", help="a study's best COMPLETE trial")
    best.add_argument("name", help="study name")
    _json_arg(best)
    best.set_defaults(handler=run_best)

    front = actions.add_parser(
        "front", help="a study's Pareto front: its non-dominated (feasible) COMPLETE trials"
    )
    front.add_argument("name", help="study name")
    front.add_argument(
        "--all", action="store_true", help="infeasible trials too (those breaking a constraint)"
    )
    front.add_argument("--wide", action="store_true", help="every column, however narrow")
    _json_arg(front)
    front.set_defaults(handler=run_front)

    export = actions.add_parser("export", help="write a study's trials to CSV or JSON")
    export.add_argument("name", help="study name")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--output", required=True, help="file to write")
    export.add_argument("--state", action="append", help="only these states (repeatable)")
    export.set_defaults(handler=run_export)

    imp = actions.add_parser("importances", help="parameter importances (PED-ANOVA)")
    imp.add_argument("name", help="study name")
    _json_arg(imp)
    imp.set_defaults(handler=run_importances)
    plots.register(actions)  # `hpo studies plot` (issue 17)
    tracking.register_studies(actions)  # `hpo studies sync-mlflow` (issue 14)


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def _page_args(p: argparse.ArgumentParser, *, limit: int) -> None:
    p.add_argument("--limit", type=int, default=limit, help=f"rows per page (default {limit})")
    p.add_argument("--offset", type=int, default=0, help="rows to skip (default 0)")
    p.add_argument("--wide", action="store_true", help="every column, however narrow the terminal")
    _json_arg(p)


def _print_json(model: BaseModel | None) -> None:
    print(model.model_dump_json(indent=2) if model is not None else "null")


def _console() -> Console:
    """Stdout; when it is not a terminal (a pipe, a file), wide enough not to cut names."""
    return tables.console()


def _print_table(
    title: str, cols: list[Col], rows: list[list[str]], footer: str, wide: bool
) -> None:
    console = _console()
    narrowed = tables.print_table(console, title, cols, rows, wide=wide)
    console.print(footer + (f" {tables.WIDE_HINT}" if narrowed else ""))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _num(value: float | None) -> str:
    return f"{value:.6g}" if value is not None else "-"


def _states(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


def _bound(text: str, flag: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(
            f"{flag}: {text!r} is not a number", fix=f"use {flag} LOW:HIGH with numbers"
        ) from None


def parse_range(text: str, flag: str) -> tuple[float | None, float | None]:
    """``LOW:HIGH`` with either bound empty."""
    low, sep, high = text.partition(":")
    if not sep:
        raise ConfigError(
            f"{flag} {text!r} is not a LOW:HIGH range", fix=f"e.g. {flag} 0.1:0.5, or {flag} :0.5"
        )
    return _bound(low, flag), _bound(high, flag)


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """``--param NAME=LOW:HIGH`` (numbers) or ``--param NAME=a,b`` (categorical choices)."""
    params: dict[str, Any] = {}
    for item in values or []:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise ConfigError(
                f"--param {item!r} is not NAME=LOW:HIGH or NAME=CHOICE[,CHOICE]",
                fix="e.g. --param max_depth=3:6 or --param booster=gbtree,dart",
            )
        if ":" in spec:
            params[name.strip()] = parse_range(spec, f"--param {name.strip()}=")
        else:
            params[name.strip()] = [c.strip() for c in spec.split(",")]
    return params


def run_list(args: argparse.Namespace) -> int:
    page = StudyClient().list_studies(
        name=args.name,
        sampler=args.sampler,
        state=args.state,
        limit=args.limit,
        offset=args.offset,
    )
    if args.json:
        _print_json(page)
        return 0
    cols = [
        Col("study", key=True),
        Col("state"),
        Col("direction", narrow=False),
        Col("sampler", narrow=False),
        Col("trials"),
        Col("budget", narrow=False, justify="right"),
        Col("last activity", narrow=False),
    ]
    rows = [
        [
            s.study_name,
            s.state,
            "/".join(s.directions),
            s.sampler or "-",
            _counts(s),
            str(s.n_trials_budget) if s.n_trials_budget is not None else "-",
            _when(s.last_activity_at),
        ]
        for s in page.items
    ]
    title = "studies (newest first; times UTC)"
    _print_table(title, cols, rows, _footer(page, "studies"), args.wide)
    return 0


def _counts(s: StudyInfo) -> str:
    c = s.counts
    parts = [f"{c.complete} complete"]
    parts += [f"{n} {label}" for n, label in ((c.pruned, "pruned"), (c.fail, "failed")) if n]
    parts += [f"{n} {label}" for n, label in ((c.running, "running"), (c.waiting, "waiting")) if n]
    return ", ".join(parts)


def _footer(page: Page[Any], what: str) -> str:
    if not page.items:
        return f"no {what}" + (f" at offset {page.offset}" if page.offset else "")
    end = page.offset + len(page.items)
    text = f"{what} {page.offset + 1}-{end}"
    if page.total is not None:
        text += f" of {page.total}"
    if page.has_more:
        text += f"; next page: --offset {end}"
    return text


def run_show(args: argparse.Namespace) -> int:
    detail = StudyClient().summary(args.name)
    if args.json:
        _print_json(detail)
        return 0
    _print_detail(detail)
    return 0


def _print_detail(d: StudySummary) -> None:
    metric = d.metric or "value"  # what the value measures, when known
    table = Table(title=f"study {d.study_name}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("state", d.state),
        ("direction", "/".join(d.directions)),
        ("sampler", d.sampler or "-"),
        ("budget", str(d.n_trials_budget) if d.n_trials_budget is not None else "-"),
        ("trials", _counts(d)),
        ("first trial (UTC)", _when(d.first_trial_at)),
        ("last completion (UTC)", _when(d.last_trial_at)),
        ("trials / minute", _num(d.trials_per_minute)),
        ("devices", ", ".join(f"{k}: {n}" for k, n in d.devices.items()) or "-"),
        ("spec hash", d.spec_hash or "-"),
    ]
    if d.duplicate_params:
        rows.append(
            (
                "duplicate params",
                f"[yellow]{d.duplicate_params} finished trials repeat an earlier trial's params[/]",
            )
        )
    if d.retried_trials:
        rows.append(("retried trials", f"{d.retried_trials} (system attribute failed_trial)"))
    if d.best_trial is not None:
        rows += [
            (f"best {metric}", f"{_num(d.best_trial.value)} (trial {d.best_trial.number})"),
            ("best params", json.dumps(d.best_trial.params, sort_keys=True)),
        ]
    else:
        rows.append((f"best {metric}", "- (no COMPLETE trial yet)"))
    for field, value in rows:
        table.add_row(field, value)
    _console().print(table)


def run_trials(args: argparse.Namespace) -> int:
    page = StudyClient().trials(
        args.name,
        state=_states(args.state),
        param_filter=parse_params(args.param),
        value_range=parse_range(args.value, "--value") if args.value else None,
        sort=args.sort,
        limit=args.limit,
        offset=args.offset,
        with_total=not args.json,
    )
    if args.json:
        _print_json(page)
        return 0
    params = list(dict.fromkeys(name for t in page.items for name in t.params))
    cols = [
        Col("number", key=True, justify="right"),
        Col("state", key=True),
        Col("value", key=True, justify="right"),
        Col("duration s", narrow=False, justify="right"),
        Col("device", narrow=False),
        *(Col(name, justify="right") for name in params),
    ]
    rows = [
        [
            str(t.number),
            t.state,
            _num(t.value),
            _num(t.duration_s),
            str(t.user_attrs.get("device", "-")),
            *(_cell(t.params.get(name)) for name in params),
        ]
        for t in page.items
    ]
    title = f"trials of {args.name} (sort: {args.sort})"
    _print_table(title, cols, rows, _footer(page, "trials"), args.wide)
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def run_best(args: argparse.Namespace) -> int:
    best = StudyClient().best_trial(args.name)
    if args.json:
        _print_json(best)
        return 0 if best is not None else 1
    if best is None:
        _console().print(f"[yellow]study {args.name} has no COMPLETE trial yet[/]")
        return 1
    _print_trial(best, title=f"best trial of {args.name}")
    return 0


def _print_trial(t: TrialRecord, *, title: str) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("number", str(t.number))
    table.add_row("value", _num(t.value))
    table.add_row("started (UTC)", _when(t.datetime_start))
    table.add_row("duration s", _num(t.duration_s))
    for name, value in t.params.items():
        table.add_row(f"params.{name}", _cell(value))
    for key, value in t.user_attrs.items():
        table.add_row(f"user_attrs.{key}", _cell(value))
    _console().print(table)


def run_front(args: argparse.Namespace) -> int:
    front = StudyClient().pareto_front(args.name, feasible_only=not args.all)
    if args.json:
        _print_json(front)
        return 0 if front.trials else 1
    params = list(dict.fromkeys(name for t in front.trials for name in t.params))
    heads = [f"{n} ({d[:3]})" for n, d in zip(front.objectives, front.directions, strict=True)]
    cols = [
        Col("number", key=True, justify="right"),
        *(Col(h, key=True, justify="right") for h in heads),
        *([Col("feasible")] if front.constraints else []),
        *(Col(name, narrow=False, justify="right") for name in params),
    ]
    rows = [
        [
            str(t.number),
            *(_num(v) for v in t.values or ()),
            *(["yes" if t.feasible else "no"] if front.constraints else []),
            *(_cell(t.params.get(name)) for name in params),
        ]
        for t in front.trials
    ]
    bounds = f"; constraints: {', '.join(front.constraints)}" if front.constraints else ""
    footer = (
        f"{len(front.trials)} trials on the front of {front.n_complete} COMPLETE "
        f"({front.n_feasible} feasible{bounds})"
    )
    _print_table(f"Pareto front of {args.name}", cols, rows, footer, args.wide)
    return 0 if front.trials else 1


def run_export(args: argparse.Namespace) -> int:
    n = StudyClient().export_trials(args.name, args.output, args.format, state=_states(args.state))
    _console().print(f"wrote {n} trials of {args.name} to {args.output} ({args.format})")
    return 0


def run_importances(args: argparse.Namespace) -> int:
    result = StudyClient().importances(args.name)
    if args.json:
        _print_json(result)
        return 0
    table = Table(title=f"param importances of {args.name} (PED-ANOVA, {result.n_trials} trials)")
    table.add_column("param")
    table.add_column("importance", justify="right")
    table.add_column("")
    for name, value in result.importances.items():
        table.add_row(name, f"{value:.3f}", "█" * round(value * 40))
    _console().print(table)
    return 0
