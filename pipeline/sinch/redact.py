"""Keep credentials out of every text the client produces, even when a server echoes them.

A server may echo the request's ``Authorization`` header (or the submitted form) in an error
body; the client copies error bodies into exceptions, logs and Dagster events. So every secret
the client sends is registered here when it is created, and :func:`redact` replaces each of
them in any text before it leaves the client: the key secret (raw and URL-encoded), its Basic
form (``base64(key_id:key_secret)``) and every OAuth2 access token issued.

The registry is process-wide (a set under a lock): a secret registered by one client is redacted
in the errors of every client, which is what a log reader wants. It only grows by one token per
token lifetime, so its size stays small.
"""

from __future__ import annotations

import threading
from urllib.parse import quote, quote_plus

#: What replaces a secret in text.
MASK = "***"
#: Secrets shorter than this are not registered: masking "ab" everywhere would garble text and
#: a credential that short protects nothing.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secret(value: str | None) -> None:
    """Remember ``value`` (and its URL-encoded forms) so :func:`redact` masks it from now on."""
    global _secrets
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value)}
    with _lock:
        _secrets = _secrets | forms


def redact(text: str | None) -> str | None:
    """Return ``text`` with every registered secret replaced by ``***`` (None stays None)."""
    if not text:
        return text
    secrets = _secrets  # an immutable snapshot: no lock needed to read it
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: b64 before parts
        if secret in text:
            text = text.replace(secret, MASK)
    return text
