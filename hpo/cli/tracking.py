"""``hpo studies sync-mlflow NAME`` and ``hpo promotions sync-mlflow``: log to MLflow what is
pending (docs/tracking.md). Registered into the ``studies`` and ``promotions`` commands.

Exit codes: 0 everything is in MLflow; 1 some is still pending (each line says why); 2 bad
input, MLflow tracking off (HPO_MLFLOW_TRACKING_URI unset), or MLflow unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hpo.errors import ConfigError, StoreStateError
from hpo.settings import HpoSettings, get_settings
from hpo.store import get_storage
from hpo.tracking.models import pending_promotions, sync_promotions
from hpo.tracking.trials import sync_study


def register_studies(actions: Any) -> None:
    p = actions.add_parser(
        "sync-mlflow", help="log a study's finished trials that are not in MLflow yet"
    )
    p.add_argument("name", help="study name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_sync_study)


def register_promotions(actions: Any) -> None:
    p = actions.add_parser(
        "sync-mlflow", help="log, register and alias the promoted models pending in MLflow"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_sync_promotions)


def _settings() -> HpoSettings:
    settings = get_settings()
    if settings.mlflow.tracking_uri is None:
        raise ConfigError(
            "MLflow tracking is off: HPO_MLFLOW_TRACKING_URI is not set",
            fix="set HPO_MLFLOW_TRACKING_URI=http://HOST:5000 (pip install 'prefect-hpo[mlflow]')",
        )
    return settings


def run_sync_study(args: argparse.Namespace) -> int:
    settings = _settings()
    storage = get_storage(settings)
    try:
        storage.get_study_id_from_name(args.name)
    except KeyError:
        raise StoreStateError(
            f"no study named {args.name!r} in the study store",
            fix="list the studies with `hpo studies list`",
        ) from None
    report = sync_study(settings, storage, args.name)
    print(report.model_dump_json(indent=2) if args.json else report.line())
    return 1 if report.pending else 0


def run_sync_promotions(args: argparse.Namespace) -> int:
    settings = _settings()
    report = sync_promotions(get_storage(settings).engine, settings)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


def report_pending(settings: HpoSettings) -> None:
    """One line on stderr when promoted models wait for MLflow (no MLflow call)."""
    if settings.mlflow.tracking_uri is None:
        return
    ids = pending_promotions(get_storage(settings).engine, settings)
    if ids:
        shown = json.dumps(ids[:10])[1:-1] + (", ..." if len(ids) > 10 else "")
        print(
            f"MLflow: {len(ids)} promotion(s) pending sync ({shown}); "
            "retried by the next train-best or `hpo promotions sync-mlflow`",
            file=sys.stderr,
        )
