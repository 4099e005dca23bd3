"""Prefect API clients of a plain-HTTP server: no certificate bundle parsed for nothing.

Prefect 3.8 builds a TLS context for every API client it creates, whatever the API URL's scheme:
``ssl.create_default_context(cafile=PREFECT_API_SSL_CERT_FILE or certifi.where())``, which
parses certifi's ~150 root certificates, 20-50 ms of CPU each time. A trial-worker flow run
creates seven such clients on its way to its first trial (its engine, the task engine, the
suspension observer, the version check...), and W of them start at once: on a 2-core machine,
measured at W = 8, that was 0.2 of each flow run's 0.5 s of start-up CPU
(docs/fanout-benchmark.md). An ``http://`` API never opens a TLS connection, so the bundle is
never used.

For a plain-HTTP API, :func:`skip_unused_ca_bundle` sets ``PREFECT_API_SSL_CERT_FILE``
(Prefect's own setting, inherited by the worker's flow runs) to :func:`no_trust_ca`: one
self-signed certificate made on this machine whose private key was never written anywhere.
Nothing can be signed by it, so it trusts nothing: a client of such a process that did reach an
``https://`` address with it would fail verification (closed), never pass. Prefect's default for
the setting is ``SSL_CERT_FILE`` or certifi's bundle, both unused on plain HTTP and replaced
here; a ``PREFECT_API_SSL_CERT_FILE`` in the environment is kept, and an ``https://`` API keeps
Prefect's behaviour.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # cryptography is imported only when a certificate is made
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from cryptography.x509 import Certificate

CERT_FILE_ENV = "PREFECT_API_SSL_CERT_FILE"
FILE_NAME = "hpo-no-trust-ca.pem"


def self_signed(
    common_name: str, dns_names: tuple[str, ...] = ()
) -> tuple[Certificate, EllipticCurvePrivateKey]:
    """A self-signed certificate for ``common_name`` (and ``dns_names``) and its fresh EC key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
    )
    if dns_names:
        san = x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, hashes.SHA256()), key


def no_trust_ca(folder: Path) -> Path:
    """``folder/hpo-no-trust-ca.pem``, made (atomically) if it is not there yet: a self-signed
    certificate whose private key existed only in this function's memory."""
    path = folder / FILE_NAME
    if path.exists():
        return path
    from cryptography.hazmat.primitives import serialization

    cert, _key = self_signed("hpo no-trust anchor (key discarded)")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)  # concurrent starts: each writes a whole file, one wins
    return path


def skip_unused_ca_bundle(environ: MutableMapping[str, str], api_url: str, folder: Path) -> bool:
    """Point ``environ``'s ``PREFECT_API_SSL_CERT_FILE`` at :func:`no_trust_ca` when the API is
    plain HTTP and ``environ`` names no such file itself; whether it did."""
    if environ.get(CERT_FILE_ENV) or urlsplit(api_url).scheme != "http":
        return False
    environ[CERT_FILE_ENV] = str(no_trust_ca(folder))
    return True
