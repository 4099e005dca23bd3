"""``hpo promote STUDY`` and ``hpo promotions list|champions``: the promotion gate and registry."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hpo.cli import startup, tables, tracking
from hpo.cli.args import int_between
from hpo.cli.server import use_local_server
from hpo.cli.tables import Col
from hpo.promotions import registry
from hpo.promotions.rules import RULES, parse_rule
from hpo.promotions.service import promotion_rule
from hpo.settings import get_settings
from hpo.store import get_storage
from hpo.study_setup import study_id_of


def register(sub: Any) -> None:
    p = sub.add_parser("promote", help="send a study's best trial through the promotion gate")
    p.add_argument("study", help="study name")
    p.add_argument("--pipeline", required=True, help="pipeline name, e.g. churn-model")
    p.add_argument("--stage", default="staging", help="stage (default staging)")
    p.add_argument("--margin", type=float, default=0.0, help="required gain over the champion")
    p.add_argument(
        "--reeval-seeds",
        type=int_between(1, 100),
        default=3,
        help="re-evaluation seeds (default 3)",
    )
    p.add_argument(
        "--rule",
        choices=RULES,
        help="several objectives: how to pick the point of the front (default: the spec's "
        "`promotion`)",
    )
    p.add_argument("--primary", metavar="METRIC", help="--rule constrained_best: the objective")
    p.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="METRIC=W",
        help="--rule weighted: a signed weight per objective (repeat; highest sum wins)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=promote)

    q = sub.add_parser("promotions", help="the promotion registry")
    q_sub = q.add_subparsers(dest="promotions_command", required=True, metavar="ACTION")
    lst = q_sub.add_parser("list", help="decisions, newest first")
    lst.add_argument("--pipeline")
    lst.add_argument("--stage")
    lst.add_argument("--limit", type=int_between(1, 10_000), default=20)
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--wide", action="store_true", help="every column, however narrow")
    lst.set_defaults(handler=list_promotions)
    ch = q_sub.add_parser("champions", help="the current champion of each pipeline stage")
    ch.add_argument("--pipeline")
    ch.add_argument("--json", action="store_true")
    ch.add_argument("--wide", action="store_true", help="every column, however narrow")
    ch.set_defaults(handler=list_champions)
    tracking.register_promotions(q_sub)  # `hpo promotions sync-mlflow` (issue 14)


def promote(args: argparse.Namespace) -> int:
    storage = get_storage()
    study_id_of(storage, args.study)  # no such study: exit 2 before anything starts
    given = parse_rule(args.rule, args.primary, args.weight)
    # Several objectives and no rule, or a rule on no objective: exit 2 before Prefect starts.
    rule = promotion_rule(storage, args.study, given)
    use_local_server(start=True)
    from hpo.flows.promote import promote_flow  # imports Prefect: after the server is chosen

    startup.settle()

    promotion = promote_flow(
        study_name=args.study,
        pipeline=args.pipeline,
        stage=args.stage,
        margin=args.margin,
        reeval_seeds=args.reeval_seeds,
        rule=given.model_dump(mode="json", exclude_none=True) if given is not None else None,
    )
    if rule is not None and not args.json:
        print(f"rule: {rule}")
    if args.json:
        print(promotion.model_dump_json(indent=2))
    else:
        print(f"{promotion.decision}: {promotion.reason}")
    tracking.report_pending(get_settings())
    return 0


def _show(rows: list[registry.Promotion], as_json: bool, title: str, wide: bool) -> int:
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return 0
    cols = [
        Col("id", key=True, justify="right"),
        Col("pipeline", key=True),
        Col("stage", key=True),
        Col("decision", key=True),
        Col("champion", narrow=False),
        Col("study", key=True),
        Col("trial", narrow=False, justify="right"),
        Col("value", justify="right"),
        Col("re-evaluated", narrow=False, justify="right"),
        Col("when (UTC)", narrow=False),
        Col("reason", narrow=False),
    ]
    cells = [
        [
            str(r.id), r.pipeline, r.stage, r.decision, "yes" if r.is_champion else "",
            r.study_name, str(r.trial_number), f"{r.value:.6g}" if r.value is not None else "",
            f"{r.reeval_value:.6g}" if r.reeval_value is not None else "",
            r.created_at.strftime("%Y-%m-%d %H:%M"), r.reason,
        ]
        for r in rows
    ]  # fmt: skip
    console = tables.console()
    if tables.print_table(console, title, cols, cells, wide=wide):
        console.print(tables.WIDE_HINT)
    return 0


def list_promotions(args: argparse.Namespace) -> int:
    engine = get_storage().engine
    registry.create_tables(engine)
    rows = registry.history(engine, args.pipeline, args.stage, args.limit)
    return _show(rows, args.json, "promotion decisions", args.wide)


def list_champions(args: argparse.Namespace) -> int:
    engine = get_storage().engine
    registry.create_tables(engine)
    return _show(
        registry.champions(engine, args.pipeline), args.json, "current champions", args.wide
    )
