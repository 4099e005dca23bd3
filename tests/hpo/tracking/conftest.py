"""A real `mlflow server` for the tracking tests (one per test package: it takes ~20 s to
start), on a database of its own beside the study store, reached through a TCP relay that a
test can cut to take MLflow down for real (connections refused) and bring it back."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo.settings import get_settings
from hpo.tracking import client
from hpo.tracking.testing import MlflowServer, mlflow_server


class Relay:
    """127.0.0.1:``port`` -> the MLflow server; :meth:`down` refuses new connections and cuts
    the open ones, :meth:`up` accepts again (same port)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self.up()

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def up(self) -> None:
        if self.is_up:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the relay's thread
            except OSError:
                pass
            listener.close()
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self._open += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture(scope="package")
def mlflow(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(pg_url, Path(tmp_path_factory.mktemp("mlflow"))) as server:
        yield server


@pytest.fixture(scope="package")
def relay(mlflow: MlflowServer) -> Iterator[Relay]:
    relay = Relay(mlflow.port)
    yield relay
    relay.down()


@pytest.fixture
def tracking(relay: Relay, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """MLflow tracking on (through the relay), in an experiment of this test's own; yields the
    tracking URI. Requests fail fast and a failure pauses MLflow calls for 0 s."""
    uri = f"http://127.0.0.1:{relay.port}"
    monkeypatch.setenv("HPO_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("HPO_MLFLOW_EXPERIMENT", f"test-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("HPO_MLFLOW_MAX_RETRIES", "0")
    monkeypatch.setenv("HPO_MLFLOW_PAUSE_S", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    get_settings.cache_clear()
    client.forget()
    relay.up()
    yield uri
    relay.up()
    client.forget()
    monkeypatch.undo()
    get_settings.cache_clear()
