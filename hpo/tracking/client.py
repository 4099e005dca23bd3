"""The process's connection to MLflow (layer: execution): one client per tracking URI, the
experiment, failures turned into this service's errors with the URI's credentials masked, and a
pause after MLflow failed so that workers do not wait on a server that is down.

MLflow is imported here and in the other :mod:`hpo.tracking` modules only, inside functions: it
is an optional dependency (the ``mlflow`` extra) and takes a second to import.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from hpo.errors import HpoError, TrackingError, TrackingUnavailableError
from hpo.redaction import mask_url, redact
from hpo.settings import HpoSettings, MlflowSettings, apply_mlflow_defaults

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: MLflow error codes of a server that answered and refused the call (bad input, a missing
#: object): not an outage, so no pause; the call fails the same way until the input changes.
REFUSED = frozenset(
    {
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "INVALID_STATE",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "BAD_REQUEST",
        "NOT_FOUND",
    }
)

#: What says why an MLflow call failed, in the client's long messages.
_REASONS = (r"\[Errno -?\d+\] [^\"')]+", r"[Rr]ead timed out[^\"')]*", r"\b[45]\d\d [A-Z][\w ]+")

_lock = threading.Lock()
_connections: dict[tuple[str, str], Mlflow] = {}
_paused_until: dict[str, float] = {}


@dataclass(frozen=True)
class Mlflow:
    """A reachable MLflow server and the experiment the studies' runs go to."""

    client: MlflowClient
    uri: str  # a secret: never shown, only :attr:`shown`
    server: str  # a key for the server, stored in PostgreSQL beside what was synced to it
    experiment_id: str
    settings: MlflowSettings

    @property
    def shown(self) -> str:
        """The tracking URI with its password masked: safe to print."""
        return mask_url(self.uri)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` (MLflow calls); a failure is a :class:`TrackingError` (MLflow refused) or a
        :class:`TrackingUnavailableError` (MLflow unreachable or failing: calls pause for
        ``pause_s``), its message masked."""
        return _call(self.uri, self.settings.pause_s, what, fn)


def enabled(settings: HpoSettings) -> bool:
    return settings.mlflow.tracking_uri is not None


def server_key(uri: str) -> str:
    """What identifies a tracking server in the sync tables (a hash: the URI is a secret)."""
    return hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]


def connect(settings: HpoSettings) -> Mlflow | None:
    """The MLflow connection of this process, or None when tracking is off. The experiment is
    created on first use (safe to race). Raises :class:`TrackingUnavailableError` while MLflow
    cannot be reached."""
    secret = settings.mlflow.tracking_uri
    if secret is None:
        return None
    uri = secret.get_secret_value()
    key = (uri, settings.mlflow.experiment)
    with _lock:
        found = _connections.get(key)
    if found is not None:
        return found
    apply_mlflow_defaults(settings.mlflow)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = settings.mlflow.experiment
    experiment_id = _call(
        uri,
        settings.mlflow.pause_s,
        f"open the experiment {name!r}",
        lambda: _experiment_id(client, name),
    )
    conn = Mlflow(client, uri, server_key(uri), experiment_id, settings.mlflow)
    with _lock:
        return _connections.setdefault(key, conn)


def _experiment_id(client: MlflowClient, name: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(name, tags={"hpo": "studies"}))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    experiment = client.get_experiment_by_name(name)  # another process created it just now
    assert experiment is not None
    return str(experiment.experiment_id)


def _call(uri: str, pause_s: float, what: str, fn: Callable[[], T]) -> T:
    server = server_key(uri)
    with _lock:
        until = _paused_until.get(server, 0.0)
    if time.monotonic() < until:
        raise TrackingUnavailableError(
            f"cannot {what}: MLflow at {mask_url(uri)} failed less than {pause_s:g} s ago",
            fix="it is retried after the pause (HPO_MLFLOW_PAUSE_S) and by the sync-mlflow "
            "commands",
        )
    try:
        result = fn()
    except HpoError:
        raise
    except Exception as exc:
        if not _unavailable(exc):
            raise TrackingError(
                redact(f"cannot {what}: {_reason(exc)}", uri)[:2000],
                fix="see the MLflow server's log; what was not logged stays pending",
            ) from None
        with _lock:
            _paused_until[server] = time.monotonic() + pause_s
        raise TrackingUnavailableError(
            redact(f"cannot {what}: MLflow at {mask_url(uri)} failed: {_reason(exc)}", uri),
            fix="start the MLflow server or fix HPO_MLFLOW_TRACKING_URI; what was not logged "
            "stays pending in PostgreSQL: `hpo studies sync-mlflow NAME`, "
            "`hpo promotions sync-mlflow`",
        ) from None
    with _lock:
        _paused_until.pop(server, None)
    return result


def _unavailable(exc: Exception) -> bool:
    """MLflow could not be reached or failed on its side (worth retrying later), rather than
    refusing the call or failing in the client (retrying fails the same way)."""
    import requests

    if isinstance(exc, OSError | requests.RequestException):
        return True
    code = getattr(exc, "error_code", None)
    if code in REFUSED:
        return False
    if str(exc).startswith("API request to"):  # the REST client's transport failure
        return True
    return code in ("TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED") or (
        code == "INTERNAL_ERROR" and type(exc).__name__ == "RestException"
    )


def _reason(exc: Exception) -> str:
    """The gist of an MLflow client failure (its messages repeat the URL and urllib3's retry
    state): the OS error, a timeout, or the first 300 characters."""
    text = str(exc)
    for pattern in _REASONS:
        found = re.search(pattern, text)
        if found:
            return found.group(0).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


def forget() -> None:
    """Drop this process's connections and pauses (tests that restart a server)."""
    with _lock:
        _connections.clear()
        _paused_until.clear()
