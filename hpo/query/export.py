"""Trial exports to CSV and JSON, streamed: one page in memory at a time.

* CSV: ``number, state, value, datetime_start, datetime_complete, duration_s, fail_reason``,
  then ``params_<name>`` and ``user_attrs_<key>`` columns (Optuna's ``trials_dataframe``
  names), sorted. Empty cells are missing values; datetimes are ISO 8601 UTC; values that are
  not text or numbers are JSON.
* JSON: an array of :class:`~hpo.query.models.TrialRecord` objects (infinite values are the
  strings ``"Infinity"`` / ``"-Infinity"``).

The file is written next to ``path`` and renamed into place, so it appears complete or not at
all.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from hpo.errors import ConfigError
from hpo.query.models import TrialRecord

ExportFormat = Literal["csv", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "json")

BASE_COLUMNS = (
    "number",
    "state",
    "value",
    "datetime_start",
    "datetime_complete",
    "duration_s",
    "fail_reason",
)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return value
    return json.dumps(value, default=str)


def csv_row(record: TrialRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "number": record.number,
        "state": record.state,
        "value": _cell(record.value),
        "datetime_start": _cell(record.datetime_start and record.datetime_start.isoformat()),
        "datetime_complete": _cell(
            record.datetime_complete and record.datetime_complete.isoformat()
        ),
        "duration_s": _cell(record.duration_s),
        "fail_reason": _cell(record.fail_reason),
    }
    row.update({f"params_{k}": _cell(v) for k, v in record.params.items()})
    row.update({f"user_attrs_{k}": _cell(v) for k, v in record.user_attrs.items()})
    return row


def write_export(
    path: Path,
    format: str,
    records: Iterable[TrialRecord],
    columns: dict[str, list[str]],
) -> int:
    """Write ``records`` to ``path``; returns how many. ``columns`` lists the param names and
    user attribute keys (``{"params": [...], "user_attrs": [...]}``) for the CSV header."""
    if format not in EXPORT_FORMATS:
        raise ConfigError(
            f"unknown export format {format!r}", fix=f"use one of: {', '.join(EXPORT_FORMATS)}"
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"cannot write {path}: the folder {path.parent} does not exist",
            fix="create the folder first, or pick another path",
        )
    part = path.with_name(f".{path.name}.part")
    n = 0
    try:
        with part.open("w", encoding="utf-8", newline="") as out:
            if format == "csv":
                header = [
                    *BASE_COLUMNS,
                    *(f"params_{name}" for name in columns["params"]),
                    *(f"user_attrs_{key}" for key in columns["user_attrs"]),
                ]
                # Trials that gain a new param while the export runs keep the header's columns.
                writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
                writer.writeheader()
                for record in records:
                    writer.writerow(csv_row(record))
                    n += 1
            else:
                out.write("[")
                for record in records:
                    out.write(",\n" if n else "\n")
                    out.write(record.model_dump_json())
                    n += 1
                out.write("\n]\n")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return n
