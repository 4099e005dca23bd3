"""Trials as a pandas DataFrame, when pandas is installed (it is optional)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from hpo.errors import ConfigError
from hpo.query.models import TrialRecord


def _pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ConfigError(
            "to_dataframe needs pandas, which is not installed",
            fix="pip install pandas (or use the TrialRecord pages, or export to CSV)",
        ) from None


def records_to_dataframe(records: Iterable[TrialRecord]) -> Any:
    """A ``pandas.DataFrame``, one row per trial, with the columns of Optuna's
    ``Study.trials_dataframe`` where they exist (``number``, ``value``, ``datetime_start``,
    ``datetime_complete``, ``state``, ``params_*``, ``user_attrs_*``) plus ``duration_s`` and
    ``fail_reason``. Datetimes are UTC."""
    pandas = _pandas()
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "number": r.number,
            "value": r.value,
            "datetime_start": r.datetime_start,
            "datetime_complete": r.datetime_complete,
            "duration_s": r.duration_s,
            "state": r.state,
            "fail_reason": r.fail_reason,
        }
        if r.values is not None:
            row.update({f"values_{i}": v for i, v in enumerate(r.values)})
        row.update({f"params_{k}": v for k, v in r.params.items()})
        row.update({f"user_attrs_{k}": v for k, v in r.user_attrs.items()})
        rows.append(row)
    frame = pandas.DataFrame(rows)
    if not rows:
        return pandas.DataFrame(columns=["number", "value", "state"])
    for column in ("datetime_start", "datetime_complete"):
        frame[column] = pandas.to_datetime(frame[column], utc=True)
    return frame
