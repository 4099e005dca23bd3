"""The Prefect server a command needs (cli layer): one check shared by the commands that talk to
``PREFECT_API_URL``."""

from __future__ import annotations

from hpo.errors import ConfigError


def require_server() -> str:
    """``PREFECT_API_URL``, or a :class:`ConfigError` that says how to set it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError(
            "this command needs a Prefect server, but PREFECT_API_URL is not set",
            fix="start one (`prefect server start`) and export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api",
        )
    return str(url)
