"""`hpo studies plot NAME`: the study's three plots as PNG files; an unknown study is one line
and exit 2."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from pydantic import SecretStr

from hpo.cli.main import main
from hpo.settings import DatabaseSettings, HpoSettings
from hpo.store import get_storage


def test_studies_plot_writes_three_pngs(pg_url: str, study_name: str, tmp_path: Path) -> None:
    storage = get_storage(HpoSettings(database=DatabaseSettings(url=SecretStr(pg_url))))
    study = optuna.create_study(study_name=study_name, storage=storage)
    study.optimize(lambda t: (t.suggest_float("x", -2, 2) - 1) ** 2, n_trials=4)
    out = tmp_path / "plots"
    assert main(["studies", "plot", study_name, "--output", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["history.png", "importances.png", "params.png"]
    assert all((out / f).read_bytes()[:4] == b"\x89PNG" for f in files)


def test_studies_plot_of_an_unknown_study_is_exit_2(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["studies", "plot", "no-such-study-17"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no study named 'no-such-study-17' in the study store")
