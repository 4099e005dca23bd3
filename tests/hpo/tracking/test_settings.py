"""MLflow settings: off when unset; set without the mlflow package, or not a URI, is one clear
error with exit 2 before anything starts, and the URI (a secret) is never echoed."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from hpo.cli.main import main
from hpo.errors import ConfigError
from hpo.settings import get_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_off_when_unset(env: pytest.MonkeyPatch) -> None:
    env.delenv("HPO_MLFLOW_TRACKING_URI", raising=False)
    assert get_settings().mlflow.tracking_uri is None


def test_set_without_mlflow_installed_is_one_error_exit_2(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("HPO_MLFLOW_TRACKING_URI", "http://bob:Hidden-7@mlflow:5000")
    env.setitem(sys.modules, "mlflow", None)  # what `import mlflow` sees when it is missing
    with pytest.raises(ConfigError, match="pip install 'prefect-hpo\\[mlflow\\]'"):
        get_settings()
    assert main(["studies", "list"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: invalid setting HPO_MLFLOW_TRACKING_URI: MLflow tracking is on")
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err  # the error, its fix
    assert "Hidden-7" not in out + err


def test_not_a_uri_is_refused(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("HPO_MLFLOW_TRACKING_URI", "localhost:5000")
    assert main(["studies", "list"]) == 2
    assert "not a tracking URI: use the form http://host:5000" in capsys.readouterr().err


def test_sync_commands_say_tracking_is_off(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("HPO_MLFLOW_TRACKING_URI", raising=False)
    assert main(["promotions", "sync-mlflow"]) == 2
    assert "HPO_MLFLOW_TRACKING_URI is not set" in capsys.readouterr().err
