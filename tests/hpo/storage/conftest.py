"""The fast store and stock Optuna's, side by side on the test PostgreSQL."""

from __future__ import annotations

import optuna
import pytest
from pydantic import SecretStr

from hpo.settings import DatabaseSettings, HpoSettings
from hpo.storage import FastRDBStorage
from hpo.store import get_storage


def settings_for(pg_url: str, *, fast: bool) -> HpoSettings:
    return HpoSettings(database=DatabaseSettings(url=SecretStr(pg_url), fast_store=fast))


@pytest.fixture
def fast(pg_url: str) -> FastRDBStorage:
    storage = get_storage(settings_for(pg_url, fast=True))
    assert isinstance(storage, FastRDBStorage)
    return storage


@pytest.fixture
def stock(pg_url: str) -> optuna.storages.RDBStorage:
    storage = get_storage(settings_for(pg_url, fast=False))
    assert not isinstance(storage, FastRDBStorage)
    return storage
