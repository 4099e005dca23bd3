"""Invalid ``HPO_*`` settings: one error naming the variable, the rule and the fix; exit 2 from
the CLI, no traceback, and never the value of a secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hpo.cli.main import main
from hpo.errors import ConfigError
from hpo.settings import get_settings

BAD = [
    ("HPO_DATABASE_POOL_SIZE", "-1", "greater than or equal to 1"),
    ("HPO_DATABASE_MAX_OVERFLOW", "lots", "valid integer"),
    ("HPO_DATABASE_FAST_STORE", "maybe", "valid boolean"),
    ("HPO_DATABASE_POOL_TIMEOUT_S", "nan", "greater than 0"),
    ("HPO_WORKER_DEVICE", "tpu", "'auto', 'cpu' or 'cuda'"),
    ("HPO_WORKER_GRACE_PERIOD_S", "1", "greater than or equal to 2"),
    ("HPO_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ("HPO_ARTIFACTS_STORE", "gs://bucket/x", "a file:// URL or s3://bucket/prefix"),
    ("HPO_ARTIFACTS_STORE", "s3://", "an s3:// artifact store needs a bucket"),
    ("HPO_ARTIFACTS_MAX_MB", "0", "greater than 0"),
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize(("var", "value", "rule"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_invalid_setting_names_variable_rule_and_fix(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], var: str, value: str, rule: str
) -> None:
    env.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        get_settings()
    text = str(err.value)
    assert text.startswith(f"invalid setting {var}={value!r}: ")
    assert rule in text
    assert f"fix: set {var} to a valid value" in text and "unset it (default" in text
    assert main(["studies", "list"]) == 2
    out, stderr = capsys.readouterr()
    assert stderr.startswith(f"error: invalid setting {var}") and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 2  # the error and its fix


def test_a_secret_setting_is_never_echoed(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("HPO_DATABASE_URL", "mysql://alice:My-Secret-9@db/hpo")
    assert main(["studies", "list"]) == 2
    out, err = capsys.readouterr()
    assert "must be PostgreSQL" in err and "My-Secret-9" not in out + err


def test_the_artifact_store_defaults_to_the_data_directory(env: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from hpo.settings import artifact_store_location

    env.setenv("HPO_DATABASE_DATA_DIR", "/srv/hpo")
    env.delenv("HPO_ARTIFACTS_DIR", raising=False)
    env.delenv("HPO_ARTIFACTS_STORE", raising=False)
    assert artifact_store_location(get_settings()) == str(Path("/srv/hpo/artifacts/trials"))
    env.setenv("HPO_ARTIFACTS_STORE", "s3://models/team")
    get_settings.cache_clear()
    assert artifact_store_location(get_settings()) == "s3://models/team"
