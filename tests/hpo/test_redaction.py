"""Secrets never show: every form libpq takes a password in is masked, in URLs, free text, the
store's errors and what the CLI prints (real PostgreSQL for the CLI cases)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hpo.cli.main import main
from hpo.errors import ConfigError
from hpo.redaction import mask_url, redact, url_secrets
from hpo.settings import get_settings
from hpo.store import normalize_url

# (a URL or connection string, the secret it holds)
FORMS = [
    ("postgresql://alice:s3cret-pw@db:5432/hpo", "s3cret-pw"),
    ("postgresql+psycopg://alice:s3cret%2Fpw@db/hpo", "s3cret/pw"),
    ("postgresql://alice:pa/ss%40word@db/hpo", "pa/ss@word"),
    ("postgresql://alice:p@ss@word@db/hpo", "p@ss@word"),  # unescaped '@': masked to the last
    ("postgresql://alice@db/hpo?password=qu3ry-secret&sslmode=disable", "qu3ry-secret"),
    ("postgresql://db/hpo?sslpassword=key-secret", "key-secret"),
    ("host=db user=alice password=kv-secret dbname=hpo", "kv-secret"),
    ("host=db user=alice password='quoted secret' dbname=hpo", "quoted secret"),
]


@pytest.mark.parametrize(("url", "secret"), FORMS)
def test_mask_url_hides_every_form(url: str, secret: str) -> None:
    masked = mask_url(url)
    assert "***" in masked
    for part in (secret, *secret.split("@"), *secret.split("/"), *secret.split(" ")):
        if len(part) >= 3:
            assert part not in masked, masked
    assert secret in url_secrets(url) or secret.replace("/", "%2F") in url_secrets(url)


def test_mask_url_keeps_what_is_not_secret() -> None:
    assert mask_url("postgresql://alice@db:5432/hpo") == "postgresql://alice@db:5432/hpo"
    assert (
        mask_url("postgresql://alice:@/hpo?host=/tmp/pg") == "postgresql://alice@/hpo?host=/tmp/pg"
    )
    assert mask_url("postgresql://alice:x@db:5432/hpo?sslmode=require") == (
        "postgresql://alice:***@db:5432/hpo?sslmode=require"
    )


def test_redact_cleans_free_text() -> None:
    url = "postgresql://alice:hunter22@db/hpo"
    text = (
        "connection to postgresql://alice:hunter22@db/hpo failed: password=hunter22; "
        "again: hunter22 and hunter%32%32"
    )
    cleaned = redact(text, url)
    assert "hunter22" not in cleaned
    assert cleaned.count("***") >= 3


def test_normalize_url_takes_key_value_strings() -> None:
    url = normalize_url("host=db port=6543 user=alice password=kv dbname=hpo sslmode=require")
    assert url == "postgresql+psycopg://alice:kv@db:6543/hpo?sslmode=require"


def test_unescaped_at_is_refused_without_showing_the_password() -> None:
    with pytest.raises(ConfigError) as err:
        normalize_url("postgresql://alice:p@ss@db/hpo")
    assert "%40" in str(err.value)
    assert "ss@db" not in str(err.value) and ":p@" not in str(err.value)


@pytest.fixture
def store_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _pg_forms(pg_url: str, port: int | None = None) -> list[tuple[str, str]]:
    """The tests' PostgreSQL (trust auth: any password is accepted) in each form; at ``port``
    when given (1: nothing listens there)."""
    from sqlalchemy.engine import make_url

    u = make_url(pg_url)
    host, user, db = u.host, u.username, u.database
    port = port or u.port or 5432
    if host is None:  # the embedded server (a Unix socket): no TCP forms to test
        pytest.skip("the tests' PostgreSQL has no TCP address")
    return [
        (f"postgresql://{user}:Uri-secret-1@{host}:{port}/{db}", "Uri-secret-1"),
        (f"postgresql://{user}@{host}:{port}/{db}?password=Query-secret-2", "Query-secret-2"),
        (f"host={host} port={port} user={user} dbname={db} password=Kv-secret-3", "Kv-secret-3"),
    ]


def test_cli_banner_never_shows_a_password(
    pg_url: str, store_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for url, secret in _pg_forms(pg_url):
        store_env.setenv("HPO_DATABASE_URL", url)
        get_settings.cache_clear()
        assert main(["tune", "branin", "--n-trials", "3", "--check"]) == 0
        out, err = capsys.readouterr()
        assert "check passed" in err and "***" in err
        assert secret not in out + err


def test_store_errors_never_show_a_password(
    pg_url: str, store_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store_env.setenv("HPO_DATABASE_CONNECT_TIMEOUT_S", "2")
    for url, secret in _pg_forms(pg_url, port=1):
        store_env.setenv("HPO_DATABASE_URL", url)
        get_settings.cache_clear()
        code = main(["studies", "list"])
        out, err = capsys.readouterr()
        assert code == 2, err
        assert err.startswith("error: cannot reach the study store") and "Traceback" not in err
        assert secret not in out + err
