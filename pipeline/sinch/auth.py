"""Authentication for the Sinch EST API as ``httpx.Auth`` flows (no I/O of their own).

Two schemes (``docs/api-reference.md`` §5; source tags like [DOCS-EST] are listed there):

* :class:`OAuth2ClientCredentials` — the production scheme. ``POST {auth_url}/oauth2/token``
  with ``Authorization: Basic base64(key_id:key_secret)`` and the form body
  ``grant_type=client_credentials`` returns ``{access_token, expires_in, ...}``; the token is
  sent as ``Authorization: Bearer <token>``. Source: Node SDK
  ``sdk-client/src/plugins/oauth2/{oauth2-token.request.ts, oauth2-api.ts}``.
* :class:`BasicAuth` — ``key_id:key_secret`` on every call; "intended for test purposes only
  ... heavily rate limited" [DOCS-EST], so pair it with the client's ``rate_limit_per_s``.

The token request is yielded from the auth flow, so it travels through the same
``httpx.Client`` (and the same transport — tests see it in their ``MockTransport``).
The key secret is never logged, never in ``repr`` and never in an exception message; the secret,
its Basic form and every access token are registered with :mod:`pipeline.sinch.redact`, so a
server echoing them in an error body cannot leak them either.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Callable, Generator

import httpx
import orjson

from pipeline.sinch.errors import AuthError
from pipeline.sinch.redact import register_secret

logger = logging.getLogger("pipeline.sinch")

DEFAULT_AUTH_URL = "https://auth.sinch.com"
# Node SDK EXPIRY_SAFETY_MARGIN_SEC: a token counts as expired 60 s before it really is.
EXPIRY_MARGIN_S = 60.0
# "The access token will be useable for one hour" [DOCS-OAUTH]; used if expires_in is absent.
DEFAULT_EXPIRES_IN_S = 3600.0


def _basic_header(key_id: str, key_secret: str) -> str:
    """``Basic base64(key_id:key_secret)``, with both forms registered for redaction.

    The secret and its encoded form go to :mod:`pipeline.sinch.redact`, so an echo of either
    never leaves the client.
    """
    encoded = base64.b64encode(f"{key_id}:{key_secret}".encode()).decode("ascii")
    register_secret(key_secret)
    register_secret(encoded)
    return "Basic " + encoded


def refresh_margin(expires_in_s: float) -> float:
    """Seconds before expiry at which a token is renewed: ``min(60, expires_in / 2)``.

    The Node SDK renews 60 s early; for a token living 60 s or less that margin would make every
    request fetch a new token, so short lifetimes renew at half-life instead.
    """
    return min(EXPIRY_MARGIN_S, max(0.0, expires_in_s) / 2)


def token_is_expired(response: httpx.Response) -> bool:
    """Return whether a response is a 401 whose ``WWW-Authenticate`` says the token expired.

    Sources: Node ``api-fetch-client.ts`` ``isTokenExpired`` (any header containing
    "expired"); test values seen: ``Bearer error="expired"``, ``token expired``,
    ``token invalid: expired`` (api-reference §5, pitfall 19).
    """
    if response.status_code != 401:
        return False
    return "expired" in response.headers.get("www-authenticate", "").lower()


class BasicAuth(httpx.Auth):
    """HTTP Basic ``key_id:key_secret`` on every request (test use only; heavily rate limited).

    Args:
        key_id: the access key id (username).
        key_secret: the access key secret (password); never shown in ``repr``.
    """

    def __init__(self, key_id: str, key_secret: str) -> None:
        self.key_id = key_id
        self._header = _basic_header(key_id, key_secret)

    def __repr__(self) -> str:
        return f"BasicAuth(key_id={self.key_id!r}, key_secret='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the Basic header to ``request`` (httpx drives the flow)."""
        request.headers["Authorization"] = self._header
        yield request


class OAuth2ClientCredentials(httpx.Auth):
    """OAuth2 client-credentials flow with a shared, thread-safe token cache.

    Behaviour (api-reference §5 and pitfall 19; Node ``oauth2-api.ts`` / ``api-fetch-client.ts``,
    Python SDK ``token_manager.py``):

    * the token is cached until ``expires_in - min(60 s, expires_in / 2)`` after it was issued
      (``clock`` seconds; :func:`refresh_margin`);
    * a 401 whose ``WWW-Authenticate`` contains "expired" drops the cached token *only if it is
      still the one that failed*, fetches one new token and retries the request once; any other
      401, or a second 401, is returned to the caller (the client raises :class:`AuthError`);
    * concurrent threads share one refresh: the refresh runs under a lock and threads that
      waited re-check the cache before fetching;
    * the token endpoint is a token bucket without ``Retry-After`` (Node comment "ZAP is a token
      bucket: capacity 30, refill 10/s"): 429 and 5xx are retried up to ``max_attempts`` times
      with full-jitter backoff ``uniform(0, min(cap, base * 4**(attempt-1)))``, honouring a
      ``Retry-After`` in seconds if one is sent.

    Args:
        key_id: access key id.
        key_secret: access key secret; never logged, never in ``repr`` or errors.
        auth_url: token service root; ``/oauth2/token`` is appended.
        clock: monotonic seconds, injectable for tests.
        sleep: sleep function (seconds), injectable for tests.
        max_attempts: token requests per refresh (>= 1).
        backoff_base_s: first backoff ceiling in seconds.
        backoff_cap_s: largest backoff ceiling in seconds.

    Raises (from the request that triggered the refresh):
        AuthError: the token endpoint refused the key, kept failing, or returned no token.

    Attributes:
        refreshes: number of tokens fetched so far (for tests and metrics).
    """

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        auth_url: str = DEFAULT_AUTH_URL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 3,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 16.0,
    ) -> None:
        if max_attempts < 1:
            msg = "max_attempts must be >= 1"
            raise ValueError(msg)
        self.key_id = key_id
        self.token_url = auth_url.rstrip("/") + "/oauth2/token"
        self._basic = _basic_header(key_id, key_secret)
        self._clock = clock
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._lock = threading.Lock()
        # (token, valid_until); replaced as a whole so readers without the lock see a pair.
        self._cached: tuple[str, float] | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(key_id={self.key_id!r}, key_secret='***', "
            f"token_url={self.token_url!r})"
        )

    def invalidate(self) -> None:
        """Forget the cached token; the next request fetches a new one."""
        with self._lock:
            self._cached = None

    def _valid_cached(self) -> str | None:
        cached = self._cached
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        return None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with a cached or fresh Bearer token; refresh once if it expired."""
        token = self._valid_cached()
        if token is None:
            token = yield from self._refresh(failed=None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if token_is_expired(response):
            logger.info("access token reported expired by the API; refreshing once")
            token = yield from self._refresh(failed=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _refresh(self, failed: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        # The lock is held across the yields: with a sync client the flow is driven by the
        # calling thread, and httpx closes the flow on errors, which releases the lock.
        with self._lock:
            cached = self._cached
            if cached is not None and self._clock() < cached[1] and cached[0] != failed:
                return cached[0]  # another thread refreshed while we waited
            self._cached = None
            return (yield from self._fetch_token())

    def _fetch_token(self) -> Generator[httpx.Request, httpx.Response, str]:
        for attempt in range(1, self._max_attempts + 1):
            request = httpx.Request(
                "POST",
                self.token_url,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": self._basic, "Accept": "application/json"},
            )
            response = yield request
            response.read()
            status = response.status_code
            if status == 200:
                return self._accept_token(response)
            retryable = status == 429 or status >= 500
            if retryable and attempt < self._max_attempts:
                delay = self._backoff(attempt, response)
                logger.warning(
                    "token endpoint returned %s (attempt %d/%d); retrying in %.2f s",
                    status,
                    attempt,
                    self._max_attempts,
                    delay,
                )
                self._sleep(delay)
                continue
            reason = (
                f"token endpoint kept failing after {attempt} attempts"
                if retryable
                else "token endpoint refused the key"
            )
            raise AuthError(
                f"{reason} (key_id={self.key_id!r})",
                status=status,
                method="POST",
                url=self.token_url,
                body=response.text,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, response: httpx.Response) -> float:
        retry_after = response.headers.get("retry-after", "").strip()
        if retry_after.isdigit():
            return min(float(retry_after), self._backoff_cap_s)
        ceiling = min(self._backoff_cap_s, self._backoff_base_s * 4 ** (attempt - 1))
        return random.uniform(0, ceiling)  # jitter, not crypto

    def _accept_token(self, response: httpx.Response) -> str:
        try:
            payload = orjson.loads(response.content)
            token = payload["access_token"]
            expires_in = float(payload.get("expires_in") or DEFAULT_EXPIRES_IN_S)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise AuthError(
                "token endpoint returned 200 without a usable access_token",
                status=200,
                method="POST",
                url=self.token_url,
                body=None,  # the body would contain the token itself
            ) from exc
        if not isinstance(token, str) or not token:
            raise AuthError(
                "token endpoint returned an empty access_token",
                status=200,
                method="POST",
                url=self.token_url,
            )
        register_secret(token)
        self._cached = (token, self._clock() + max(0.0, expires_in - refresh_margin(expires_in)))
        self.refreshes += 1
        logger.debug("fetched OAuth2 access token (expires_in=%s s)", expires_in)
        return token
