"""hpo.infra.prefect_tls: which Prefect APIs get the no-trust certificate file, and that it
trusts nothing (a real TLS handshake fails with it). That a worker's flow runs inherit it and
talk to the Prefect API with it is checked on the real fleet (tests/flows/test_tune_pools.py)."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hpo.infra.prefect_tls import (
    CERT_FILE_ENV,
    FILE_NAME,
    no_trust_ca,
    self_signed,
    skip_unused_ca_bundle,
)


def test_a_plain_http_api_gets_the_no_trust_file(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    assert skip_unused_ca_bundle(env, "http://10.0.0.5:4200/api", tmp_path)
    assert env[CERT_FILE_ENV] == str(tmp_path / FILE_NAME)
    assert ssl.create_default_context(cafile=env[CERT_FILE_ENV])  # a loadable CA file
    before = (tmp_path / FILE_NAME).read_bytes()
    assert skip_unused_ca_bundle({}, "http://10.0.0.5:4200/api", tmp_path)
    assert (tmp_path / FILE_NAME).read_bytes() == before  # made once, then reused


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "https://prefect.example.com/api"),  # TLS is used: Prefect's default stays
        ({CERT_FILE_ENV: "/etc/my-ca.pem"}, "http://127.0.0.1:4200/api"),  # the user's own
    ],
)
def test_tls_apis_and_a_file_the_user_named_are_left_alone(
    env: dict[str, str], url: str, tmp_path: Path
) -> None:
    before = dict(env)
    assert not skip_unused_ca_bundle(env, url, tmp_path)
    assert env == before
    assert not (tmp_path / FILE_NAME).exists()


def _server_files(folder: Path) -> tuple[Path, Path]:
    cert, key = self_signed("localhost", ("localhost",))
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _handshake(cafile: Path, port: int) -> None:
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost"):
            pass


def test_the_no_trust_file_verifies_no_server(tmp_path: Path) -> None:
    """A TLS server on localhost: its own certificate as the CA lets a client in (the control);
    the no-trust file refuses it: reaching an https:// address with the file fails closed."""
    cert, key = _server_files(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the refused client hangs up mid-handshake

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        _handshake(cert, port)
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(no_trust_ca(tmp_path / "ca"), port)
    finally:
        thread.join(timeout=10)
        listener.close()
