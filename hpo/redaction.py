"""Keeping the store's credentials out of everything people read (layer: settings/errors).

libpq takes a password in three places, and each one must be masked wherever a URL or a
connection string is shown, logged or put in an error:

* the URI's user info: ``postgresql://user:secret@host/db`` (percent-encoded or not; an unescaped
  ``@`` inside the password is masked up to the *last* ``@``, so no part of it leaks);
* URI query parameters: ``postgresql://user@host/db?password=secret`` (and ``sslpassword``);
* key=value connection strings: ``host=db user=alice password='s e c r e t'``.

:func:`mask_url` masks one URL or connection string; :func:`redact` masks every URL and
``password=`` in a free text (an error message, a traceback, a log line) and, given the configured
URL, every literal occurrence of its password, raw or percent-decoded.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>.*)$", re.DOTALL)
_QUERY_PASSWORD = re.compile(r"(?i)([?&](?:ssl)?password=)[^&#\s]*")
_DSN_PASSWORD = re.compile(r"(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)")
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://\S+")


def mask_url(url: str) -> str:
    """``url`` (a URI or a key=value connection string) with every password replaced by
    ``***``: safe to print. Never raises."""
    match = _SCHEME.match(url)
    if match is None:  # a key=value connection string, or not a URL at all
        return _DSN_PASSWORD.sub(rf"\1{MASK}", url)
    rest = match["rest"]
    if "@" in rest:
        userinfo, hostpart = rest.rsplit("@", 1)  # the last '@': a password may hold others
        user, _, password = userinfo.partition(":")
        rest = f"{user}:{MASK}@{hostpart}" if password else f"{user}@{hostpart}"
    return match["scheme"] + _QUERY_PASSWORD.sub(rf"\1{MASK}", rest)


def url_secrets(url: str | None) -> list[str]:
    """The literal secrets in ``url`` (its password, raw and percent-decoded), longest first."""
    if not url:
        return []
    found: set[str] = set()
    match = _SCHEME.match(url)
    if match is not None:
        rest = match["rest"]
        if "@" in rest:
            _user, colon, password = rest.rsplit("@", 1)[0].partition(":")
            if colon and password:
                found.add(password)
        found.update(m.group(1) for m in re.finditer(r"(?i)[?&](?:ssl)?password=([^&#\s]*)", rest))
    else:
        for m in _DSN_PASSWORD.finditer(url):
            found.add(m.group(2).strip("'"))
    found |= {unquote(s) for s in found}
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def redact(text: str, url: str | None = None) -> str:
    """``text`` with every URL masked, every ``password=...`` masked, and every literal secret
    of ``url`` (when given) replaced by ``***``."""
    for secret in url_secrets(url):
        text = text.replace(secret, MASK)
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _DSN_PASSWORD.sub(rf"\1{MASK}", text)
