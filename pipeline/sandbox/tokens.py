"""Bearer tokens of ``POST /oauth2/token``: issued, checked, expired.

Mixed into :class:`SandboxState` (like ``truth.py``).  A token is JWT-shaped, HS256 over a
secret derived from ``key_secret`` and ``seed``; it lives ``token_lifetime_s`` and, with
``token_max_requests``, expires after that many uses (token expiry mid-run, see ``faults.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    import threading

    from pipeline.sandbox.settings import SandboxSettings


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class TokenIssuer:
    """The token methods of :class:`SandboxState`.

    ``tokens`` maps each issued token to ``[expiry epoch ms, uses]``.  They use its
    ``settings``, ``_lock``, ``stats`` and ``now_ms`` (declared below for the type checker).
    """

    if TYPE_CHECKING:
        settings: SandboxSettings
        _lock: threading.RLock
        stats: dict[str, int]

        def now_ms(self) -> int:
            """The injectable clock, in epoch ms."""

    def _init_tokens(self) -> None:
        """No token issued yet; the signing secret."""
        self.tokens: dict[str, list[float]] = {}
        self._token_counter = itertools.count(1)
        s = self.settings
        self._secret = hashlib.sha256(f"{s.key_secret}:{s.seed}".encode()).digest()

    def issue_token(self) -> tuple[str, int]:
        """A JWT-shaped bearer token (HS256 over our secret) and its lifetime in seconds."""
        now = self.now_ms()
        life = self.settings.token_lifetime_s
        exp_ms = now + int(life * 1000)
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64url(
            orjson.dumps(
                {
                    "sub": self.settings.key_id,
                    "iat": now // 1000,
                    "exp": exp_ms // 1000,
                    "jti": next(self._token_counter),
                }
            )
        )
        sig = _b64url(hmac.new(self._secret, f"{header}.{payload}".encode(), "sha256").digest())
        token = f"{header}.{payload}.{sig}"
        with self._lock:
            self.tokens[token] = [float(exp_ms), 0.0]
            self.stats["tokens_issued"] += 1
        return token, int(life)

    def check_token(self, token: str) -> str | None:
        """None if valid, ``"expired"`` or ``"invalid"`` otherwise; counts a use."""
        with self._lock:
            entry = self.tokens.get(token)
            if entry is None:
                return "invalid"
            if self.now_ms() >= entry[0]:
                return "expired"
            entry[1] += 1
            limit = self.settings.token_max_requests
            if limit is not None and entry[1] > limit:
                entry[0] = 0.0
                return "expired"
        return None

    def expire_all_tokens(self) -> None:
        """Ground-truth helper: make every issued token expired (token expiry mid-run)."""
        with self._lock:
            for entry in self.tokens.values():
                entry[0] = 0.0
