"""Exports to CSV and JSON parse back to the same trials; DataFrames when pandas is there."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

from hpo.errors import ConfigError
from hpo.query import StudyClient, TrialRecord
from hpo.query.testing import GeneratedStudy


def test_csv_export_parses_back(
    client: StudyClient, generated: GeneratedStudy, tmp_path: Path
) -> None:
    path = tmp_path / "trials.csv"
    n = client.export_trials(generated.study_name, path, "csv", state="complete", page_size=300)
    records = list(client.iter_trials(generated.study_name, state="complete"))
    assert n == len(records) == generated.states["COMPLETE"]
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["number", "state", "value"]
    assert "params_dart_rate" in rows[0] and "user_attrs_device" in rows[0]
    for row, record in zip(rows, records, strict=True):
        assert int(row["number"]) == record.number
        assert float(row["value"]) == record.value  # exact: repr round-trips
        assert int(row["params_max_depth"]) == record.params["max_depth"]
        assert row["params_booster"] == record.params["booster"]
        assert row["params_dart_rate"] == str(record.params.get("dart_rate", ""))
        assert row["user_attrs_device"] == record.user_attrs["device"]
        assert row["datetime_start"] == record.datetime_start.isoformat()  # type: ignore[union-attr]
    assert not list(tmp_path.glob(".*.part"))


def test_json_export_parses_back(client: StudyClient, api_study: str, tmp_path: Path) -> None:
    path = tmp_path / "trials.json"
    n = client.export_trials(api_study, path, "json", page_size=4)
    parsed = [TrialRecord.model_validate(item) for item in json.loads(path.read_text())]
    assert n == len(parsed) == 12
    assert parsed == list(client.iter_trials(api_study))
    assert {t.value for t in parsed} >= {math.inf, -math.inf}  # "Infinity" strings in the file


def test_an_empty_export_is_still_a_file(
    client: StudyClient, generated: GeneratedStudy, tmp_path: Path
) -> None:
    path = tmp_path / "none.json"
    assert client.export_trials(generated.study_name, path, "json", value_range=(1e9, None)) == 0
    assert json.loads(path.read_text()) == []


def test_bad_exports_write_nothing(
    client: StudyClient, generated: GeneratedStudy, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="unknown export format 'xlsx'"):
        client.export_trials(generated.study_name, tmp_path / "t.xlsx", "xlsx")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="does not exist"):
        client.export_trials(generated.study_name, tmp_path / "missing" / "t.csv", "csv")
    assert list(tmp_path.iterdir()) == []


def test_dataframe(client: StudyClient, generated: GeneratedStudy) -> None:
    frame = client.to_dataframe(generated.study_name, state=["complete", "pruned"])
    assert len(frame) == generated.states["COMPLETE"] + generated.states["PRUNED"]
    assert {"number", "value", "state", "params_lr", "user_attrs_device"} <= set(frame.columns)
    assert str(frame["datetime_start"].dt.tz) == "UTC"
    assert frame["number"].is_monotonic_increasing


def test_dataframe_without_pandas(
    client: StudyClient, generated: GeneratedStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(ConfigError) as info:
        client.to_dataframe(generated.study_name)
    assert info.value.fix is not None and "pip install pandas" in info.value.fix
