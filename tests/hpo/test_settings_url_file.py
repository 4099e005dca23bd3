"""``HPO_DATABASE_URL_FILE``: the store URL read from a mounted secret file (containers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hpo.settings import DatabaseSettings, settings_error


def test_url_comes_from_the_file_when_the_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HPO_DATABASE_URL", raising=False)
    path = tmp_path / "url"
    path.write_text("postgresql://hpo:s3cret@db:5432/hpo\n")
    settings = DatabaseSettings(url_file=path)
    assert settings.url is not None
    assert settings.url.get_secret_value() == "postgresql://hpo:s3cret@db:5432/hpo"
    assert "s3cret" not in repr(settings)
    # An explicit URL wins over the file.
    explicit = DatabaseSettings(url="postgresql://other/db", url_file=path)  # type: ignore[arg-type]
    assert explicit.url is not None and explicit.url.get_secret_value() == "postgresql://other/db"


def test_a_missing_or_empty_file_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    for path, rule in ((tmp_path / "nope", "cannot read the URL file"),
                       (tmp_path / "empty", "the URL file is empty")):  # fmt: skip
        with pytest.raises(ValidationError) as info:
            DatabaseSettings(url_file=str(path))  # type: ignore[arg-type]  # as from the env
        message = str(settings_error(info.value))
        assert message.startswith(f"invalid setting HPO_DATABASE_URL_FILE='{path}': {rule}")
