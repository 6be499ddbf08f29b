"""Starlette routes of the sandbox (see ``docs/sandbox.md`` for the contract).

* ``POST /oauth2/token`` — client credentials (Basic ``keyId:keySecret`` or form
  ``client_id``/``client_secret``), ``grant_type=client_credentials``.
* ``GET /v1/projects/{projectId}/calls`` — filters, windows and paging of ``store.py``.
* ``GET /v1/projects/{projectId}/calls/export`` — the 26-column CSV.
* ``GET /v1/projects/{projectId}/trunks`` and ``/trunks/{trunkId}``.

API routes accept ``Authorization: Bearer <token>`` or ``Basic``.  Client errors are 400 with
a JSON body whose shape is **our guess** (the EST error body is not documented; a secondhand
source reports a Spring-style ``VALIDATION_FAILED``), so it says so in ``sandboxNote``.

Handlers are module-level functions that find their :class:`SandboxState` in
``request.app.state.sandbox``; what to inject (faults, hostile behaviours) is decided in
``faults.py`` (the export's in ``export_faults.py``), and this module only routes and renders.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pipeline.sandbox import export_faults, faults
from pipeline.sandbox.records import csv_line
from pipeline.sandbox.state import SandboxState
from pipeline.sandbox.store import (
    SIZE_KEYS,
    BadRequest,
    CallQuery,
    PageRequest,
    build_query,
    page_request,
    parse_raw_query,
)

ERROR_NOTE = "error body shape is a sandbox guess: Sinch does not document the EST error body"
JSON = "application/json"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def error(
    status: int,
    code: str,
    message: str,
    path: str,
    headers: dict[str, str] | None = None,
    echo: dict[str, Any] | None = None,
) -> Response:
    """The (guessed) error body; ``echo`` adds a ``request`` member (``echo_authorization``)."""
    body: dict[str, Any] = {
        "status": status,
        "error": code,
        "message": message,
        "path": path,
        "sandboxNote": ERROR_NOTE,
    }
    if echo is not None:
        body["request"] = echo
    return _json(status, body, headers)


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


def fail(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """:func:`error` for this request, echoing its Authorization if ``echo_authorization``."""
    echo = None
    if _state(request).settings.echo_authorization:
        echo = faults.echoed_request(request.headers.get("authorization"))
    return error(status, code, message, request.url.path, headers, echo)


def _basic(header: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (IndexError, binascii.Error, UnicodeDecodeError):
        return None
    user, sep, pw = raw.partition(":")
    return (user, pw) if sep else None


def _unauthorized(request: Request, www: str, message: str) -> Response:
    return fail(request, 401, "UNAUTHORIZED", message, {"WWW-Authenticate": www})


def authenticate(request: Request) -> Response | None:
    """None when the request carries valid Basic credentials or a valid bearer token."""
    state = _state(request)
    header = request.headers.get("authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if scheme == "basic":
        if _basic(header) == (state.settings.key_id, state.settings.key_secret):
            return None
        return _unauthorized(request, 'Basic realm="sinch-sandbox"', "invalid credentials")
    if scheme == "bearer":
        problem = state.check_token(header.split(" ", 1)[1].strip() if " " in header else "")
        if problem is None:
            return None
        what = "token expired" if problem == "expired" else "token invalid"
        www = f'Bearer error="invalid_token", error_description="{what}"'
        return _unauthorized(request, www, what if problem == "expired" else "invalid token")
    return _unauthorized(request, 'Bearer realm="sinch-sandbox"', "missing Authorization header")


async def guard(request: Request) -> tuple[Response | None, faults.FaultDecision]:
    """Latency, auth, 429/5xx faults and the project check.  Returns (early, decision)."""
    state = _state(request)
    if state.settings.latency_s > 0:
        await asyncio.sleep(state.settings.latency_s)
    d = faults.FaultDecision(None, None, False)
    denied = authenticate(request)
    if denied is not None:
        return denied, d
    d = faults.decide(state, request.url.path + "?" + request.url.query)
    if d.status == 429:
        headers = {"Retry-After": f"{d.retry_after:g}"} if d.retry_after is not None else {}
        return fail(request, 429, "TOO_MANY_REQUESTS", "rate limit exceeded", headers), d
    if d.status is not None:
        return fail(request, d.status, "SERVER_ERROR", "injected server error"), d
    if request.path_params.get("projectId") != state.project_id:
        msg = f"project {request.path_params.get('projectId')!r} not found"
        return fail(request, 404, "NOT_FOUND", msg), d
    return None, d


def send(
    request: Request,
    body: bytes,
    media_type: str,
    drip: bool,
    headers: dict[str, str] | None = None,
) -> Response:
    """A 200 answer, streamed slowly in chunks when ``drip``."""
    if not drip:
        return Response(body, media_type=media_type, headers=headers)
    s = _state(request).settings
    chunk, delay = s.drip_chunk_bytes, s.drip_delay_s

    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(body), chunk):
            yield body[i : i + chunk]
            await asyncio.sleep(delay)

    return StreamingResponse(gen(), media_type=media_type, headers=headers)


def _pairs(request: Request) -> list[tuple[str, str]]:
    return parse_raw_query(request.scope.get("query_string", b"").decode("latin-1"))


def _query(state: SandboxState, pairs: list[tuple[str, str]], now_ms: int) -> CallQuery:
    s = state.settings
    return build_query(
        pairs,
        now_ms=now_ms,
        default_window_ms=int(s.default_window_s * 1000),
        exact_instant_mode=s.exact_instant_mode,
        history_start_ms=state.history_start_ms,
        strict_lower_bound=s.strict_lower_bound,
    )


def _page(state: SandboxState, pairs: list[tuple[str, str]], max_size: int | None = None):
    s = state.settings
    return page_request(
        pairs,
        default_size=s.default_page_size,
        max_size=s.max_page_size if max_size is None else max_size,
        oversize=s.oversize_page if max_size is None else "reject",
        size_keys=SIZE_KEYS[s.page_size_key],
    )


async def token(request: Request) -> Response:
    """``POST /oauth2/token``."""
    state = _state(request)
    s = state.settings
    state.count("token_requests")
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    header = request.headers.get("authorization", "")
    creds = _basic(header) if header.lower().startswith("basic ") else None
    if creds is None and "client_id" in form:
        creds = (form.get("client_id", ""), form.get("client_secret", ""))

    def oauth_error(status: int, code: str, text: str, headers: dict[str, str] | None = None):
        body: dict[str, Any] = {"error": code, "error_description": text}
        if s.echo_authorization:
            body["request"] = faults.echoed_request(request.headers.get("authorization"), form)
        return _json(status, body, headers)

    if creds != (s.key_id, s.key_secret):
        www = {"WWW-Authenticate": 'Basic realm="sinch-sandbox"'}
        return oauth_error(401, "invalid_client", "Bad client credentials", www)
    if faults.token_rate_limited(state):
        return oauth_error(429, "too_many_requests", "rate limited")
    if form.get("grant_type") != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "use client_credentials")
    tok, life = state.issue_token()
    return _json(
        200, {"access_token": tok, "expires_in": life, "scope": "", "token_type": "bearer"}
    )


async def calls(request: Request) -> Response:
    """``GET /v1/projects/{projectId}/calls``."""
    state = _state(request)
    s = state.settings
    request_no = state.count("calls_requests")
    early, d = await guard(request)
    if early is not None:
        return early
    pairs = _pairs(request)
    now_ms = state.now_ms()
    try:
        q = _query(state, pairs, now_ms)
        pr: PageRequest = _page(state, pairs)
    except BadRequest as exc:
        return fail(request, 400, "VALIDATION_FAILED", str(exc))
    start = (pr.page - 1) * pr.size
    end, too_large = faults.result_window(s, start, pr.size)
    if too_large is not None:
        state.count("result_window_errors")
        return fail(request, 400, "VALIDATION_FAILED", too_large)
    key = request.url.path + "?" + request.url.query
    if faults.gzip_bomb_hit(state, key, d.attempt):
        headers = {"Content-Encoding": "gzip"}
        return Response(faults.gzip_bomb_body(), media_type=JSON, headers=headers)
    items, seconds = state.select_keyed(q, now_ms)
    total = len(items)
    if s.unstable_order:
        seed = f"{s.fault_seed}:order:{request_no}"
        page_items = faults.unstable_page(items, seconds, start, end, seed)
    else:
        page_items = items[start:end]
    if 0 < start < min(total, end):
        qkey = "&".join(f"{k}={v}" for k, v in pairs if k != "page")
        if faults.duplicate_previous(state, qkey, pr.page):
            page_items = [items[start - 1], *page_items]
    size = pr.size if s.page_size_semantics == "limit" else len(page_items)
    page_no = f'"{pr.page}"' if s.string_page_number else str(pr.page)
    reported = faults.reported_total(s, total)
    broken = faults.envelope_fault(state, key, d.attempt)
    if broken is not None:
        return send(request, faults.broken_envelope(broken, reported, page_no, size), JSON, False)
    body = b"".join(
        (
            b'{"calls":[',
            b",".join(page_items),
            f'],"totalItems":{reported},"pageNumber":{page_no},"pageSize":{size}}}'.encode(),
        )
    )
    return send(request, body, JSON, d.drip)


async def export(request: Request) -> Response:
    """``GET /v1/projects/{projectId}/calls/export``."""
    state = _state(request)
    state.count("export_requests")
    early, d = await guard(request)
    if early is not None:
        return early
    refused = export_faults.refusal(state, request.url.path + "?" + request.url.query, d.attempt)
    if refused is not None:
        return fail(request, *refused)
    pairs = _pairs(request)
    now_ms = state.now_ms()
    given = dict(pairs)
    try:
        q = _query(state, pairs, now_ms)
        paging_keys = ("page", *SIZE_KEYS[state.settings.page_size_key])
        pr = _page(state, pairs, 10**9) if any(k in given for k in paging_keys) else None
    except BadRequest as exc:
        return fail(request, 400, "VALIDATION_FAILED", str(exc))
    rows = export_faults.rows(state, state.select_calls(q, now_ms), pr)
    text = csv_line(export_faults.header(state)) + "".join(map(csv_line, rows))
    name = re.sub(r"[^A-Za-z0-9._-]", "_", given.get("fileName", "") or "EST_call_records.csv")
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return send(request, text.encode(), "text/csv; charset=utf-8", d.drip, headers)


async def trunks(request: Request) -> Response:
    """``GET /v1/projects/{projectId}/trunks``."""
    state = _state(request)
    state.count("trunks_requests")
    early, d = await guard(request)
    if early is not None:
        return early
    try:
        pr = _page(state, _pairs(request))
    except BadRequest as exc:
        return fail(request, 400, "VALIDATION_FAILED", str(exc))
    if state.settings.trunks_envelope_fault:
        state.count("envelope_faults")
        return send(request, b"{}", JSON, d.drip)
    items = state.trunks[(pr.page - 1) * pr.size : pr.page * pr.size]
    body = {
        "trunks": items,
        "totalItems": len(state.trunks),
        "pageNumber": pr.page,
        "pageSize": pr.size if state.settings.page_size_semantics == "limit" else len(items),
    }
    return send(request, orjson.dumps(body), JSON, d.drip)


async def trunk(request: Request) -> Response:
    """``GET /v1/projects/{projectId}/trunks/{trunkId}``."""
    early, d = await guard(request)
    if early is not None:
        return early
    tid = request.path_params["trunkId"]
    for t in _state(request).trunks:
        if t["id"] == tid:
            return send(request, orjson.dumps(t), JSON, d.drip)
    return fail(request, 404, "NOT_FOUND", f"trunk {tid!r} not found")


async def health(request: Request) -> Response:
    """``GET /health`` (no auth)."""
    return _json(200, {"status": "ok", "projectId": _state(request).project_id})


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown route (404) or method (405), in the error shape."""
    status = getattr(exc, "status_code", 400)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "BAD_REQUEST")
    return fail(request, status, code, str(getattr(exc, "detail", exc)))


ROUTES = [
    Route("/oauth2/token", token, methods=["POST"]),
    Route("/v1/projects/{projectId}/calls", calls, methods=["GET"]),
    Route("/v1/projects/{projectId}/calls/export", export, methods=["GET"]),
    Route("/v1/projects/{projectId}/trunks", trunks, methods=["GET"]),
    Route("/v1/projects/{projectId}/trunks/{trunkId}", trunk, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
]


def build_app(state: SandboxState) -> Starlette:
    """The ASGI app for one sandbox state."""
    app = Starlette(routes=ROUTES, exception_handlers={HTTPException: http_error})
    app.state.sandbox = state
    return app
