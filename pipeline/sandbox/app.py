"""Starlette routes of the sandbox (see ``docs/sandbox.md`` for the contract).

* ``POST /oauth2/token`` — client credentials (Basic ``keyId:keySecret`` or form
  ``client_id``/``client_secret``), ``grant_type=client_credentials``.
* ``GET /v1/projects/{projectId}/calls`` — filters, windows and paging of ``store.py``.
* ``GET /v1/projects/{projectId}/calls/export`` — the 26-column CSV.
* ``GET /v1/projects/{projectId}/trunks`` and ``/trunks/{trunkId}``.

API routes accept ``Authorization: Bearer <token>`` or ``Basic``.  Client errors are 400 with
a JSON body whose shape is **our guess** (the EST error body is not documented; a secondhand
source reports a Spring-style ``VALIDATION_FAILED``), so it says so in ``sandboxNote``.
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

from pipeline.sandbox import faults
from pipeline.sandbox.records import EXPORT_COLUMNS, csv_line
from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.state import SandboxState
from pipeline.sandbox.store import BadRequest, build_query, page_request, parse_raw_query

ERROR_NOTE = "error body shape is a sandbox guess: Sinch does not document the EST error body"
JSON = "application/json"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def error(
    status: int, code: str, message: str, path: str, headers: dict[str, str] | None = None
) -> Response:
    """The (guessed) error body."""
    body = {
        "status": status,
        "error": code,
        "message": message,
        "path": path,
        "sandboxNote": ERROR_NOTE,
    }
    return _json(status, body, headers)


def _basic(header: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (IndexError, binascii.Error, UnicodeDecodeError):
        return None
    user, sep, pw = raw.partition(":")
    return (user, pw) if sep else None


def build_app(state: SandboxState) -> Starlette:
    """The ASGI app for one sandbox state."""
    settings: SandboxSettings = state.settings

    def unauthorized(path: str, www: str, message: str) -> Response:
        return error(401, "UNAUTHORIZED", message, path, {"WWW-Authenticate": www})

    def authenticate(request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        path = request.url.path
        scheme = header.split(" ", 1)[0].lower()
        if scheme == "basic":
            creds = _basic(header)
            if creds == (settings.key_id, settings.key_secret):
                return None
            return unauthorized(path, 'Basic realm="sinch-sandbox"', "invalid credentials")
        if scheme == "bearer":
            token = header.split(" ", 1)[1].strip() if " " in header else ""
            problem = state.check_token(token)
            if problem is None:
                return None
            if problem == "expired":
                return unauthorized(
                    path,
                    'Bearer error="invalid_token", error_description="token expired"',
                    "token expired",
                )
            return unauthorized(
                path,
                'Bearer error="invalid_token", error_description="token invalid"',
                "invalid token",
            )
        return unauthorized(path, 'Bearer realm="sinch-sandbox"', "missing Authorization header")

    async def guard(request: Request) -> tuple[Response | None, bool]:
        """Latency, auth, 429/5xx faults and the project check.  Returns (early, drip)."""
        if settings.latency_s > 0:
            await asyncio.sleep(settings.latency_s)
        denied = authenticate(request)
        if denied is not None:
            return denied, False
        key = request.url.path + "?" + request.url.query
        d = faults.decide(state, key)
        if d.status == 429:
            headers = {}
            if d.retry_after is not None:
                headers["Retry-After"] = f"{d.retry_after:g}"
            return error(
                429, "TOO_MANY_REQUESTS", "rate limit exceeded", request.url.path, headers
            ), False
        if d.status is not None:
            return error(d.status, "SERVER_ERROR", "injected server error", request.url.path), False
        if request.path_params.get("projectId") != state.project_id:
            msg = f"project {request.path_params.get('projectId')!r} not found"
            return error(404, "NOT_FOUND", msg, request.url.path), False
        return None, d.drip

    def send(
        body: bytes, media_type: str, drip: bool, headers: dict[str, str] | None = None
    ) -> Response:
        if not drip:
            return Response(body, media_type=media_type, headers=headers)
        chunk, delay = settings.drip_chunk_bytes, settings.drip_delay_s

        async def gen() -> AsyncIterator[bytes]:
            for i in range(0, len(body), chunk):
                yield body[i : i + chunk]
                await asyncio.sleep(delay)

        return StreamingResponse(gen(), media_type=media_type, headers=headers)

    def parse(request: Request) -> list[tuple[str, str]]:
        return parse_raw_query(request.scope.get("query_string", b"").decode("latin-1"))

    def query_of(pairs: list[tuple[str, str]], now_ms: int):
        return build_query(
            pairs,
            now_ms=now_ms,
            default_window_ms=int(settings.default_window_s * 1000),
            exact_instant_mode=settings.exact_instant_mode,
            history_start_ms=state.history_start_ms,
        )

    async def token(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(body))
        header = request.headers.get("authorization", "")
        creds = _basic(header) if header.lower().startswith("basic ") else None
        if creds is None and "client_id" in form:
            creds = (form.get("client_id", ""), form.get("client_secret", ""))
        if creds != (settings.key_id, settings.key_secret):
            return _json(
                401,
                {"error": "invalid_client", "error_description": "Bad client credentials"},
                {"WWW-Authenticate": 'Basic realm="sinch-sandbox"'},
            )
        if faults.token_rate_limited(state):
            return _json(429, {"error": "too_many_requests", "error_description": "rate limited"})
        if form.get("grant_type") != "client_credentials":
            return _json(
                400,
                {"error": "unsupported_grant_type", "error_description": "use client_credentials"},
            )
        tok, life = state.issue_token()
        return _json(
            200, {"access_token": tok, "expires_in": life, "scope": "", "token_type": "bearer"}
        )

    async def calls(request: Request) -> Response:
        early, drip = await guard(request)
        if early is not None:
            return early
        pairs = parse(request)
        now_ms = state.now_ms()
        try:
            q = query_of(pairs, now_ms)
            pr = page_request(
                pairs,
                default_size=settings.default_page_size,
                max_size=settings.max_page_size,
                oversize=settings.oversize_page,
            )
        except BadRequest as exc:
            return error(400, "VALIDATION_FAILED", str(exc), request.url.path)
        items = state.select(q, now_ms)
        total = len(items)
        start = (pr.page - 1) * pr.size
        page_items = items[start : start + pr.size]
        if 0 < start < total:
            qkey = "&".join(f"{k}={v}" for k, v in pairs if k != "page")
            if faults.duplicate_previous(state, qkey, pr.page):
                page_items = [items[start - 1], *page_items]
        size = pr.size if settings.page_size_semantics == "limit" else len(page_items)
        page_no = f'"{pr.page}"' if settings.string_page_number else str(pr.page)
        body = b"".join(
            (
                b'{"calls":[',
                b",".join(page_items),
                f'],"totalItems":{total},"pageNumber":{page_no},"pageSize":{size}}}'.encode(),
            )
        )
        return send(body, JSON, drip)

    async def export(request: Request) -> Response:
        early, drip = await guard(request)
        if early is not None:
            return early
        pairs = parse(request)
        now_ms = state.now_ms()
        d = dict(pairs)
        try:
            q = query_of(pairs, now_ms)
            paged = any(k in d for k in ("page", "size", "pageSize"))
            pr = page_request(pairs, default_size=settings.default_page_size,
                              max_size=10**9, oversize="reject") if paged else None  # fmt: skip
        except BadRequest as exc:
            return error(400, "VALIDATION_FAILED", str(exc), request.url.path)
        rows = state.select_calls(q, now_ms)
        if pr is not None:
            rows = rows[(pr.page - 1) * pr.size : pr.page * pr.size]
        text = csv_line(EXPORT_COLUMNS) + "".join(csv_line(c.export_fields()) for c in rows)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", d.get("fileName", "") or "EST_call_records.csv")
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return send(text.encode(), "text/csv; charset=utf-8", drip, headers)

    async def trunks(request: Request) -> Response:
        early, drip = await guard(request)
        if early is not None:
            return early
        pairs = parse(request)
        try:
            pr = page_request(
                pairs,
                default_size=settings.default_page_size,
                max_size=settings.max_page_size,
                oversize=settings.oversize_page,
            )
        except BadRequest as exc:
            return error(400, "VALIDATION_FAILED", str(exc), request.url.path)
        items = state.trunks[(pr.page - 1) * pr.size : pr.page * pr.size]
        body = {
            "trunks": items,
            "totalItems": len(state.trunks),
            "pageNumber": pr.page,
            "pageSize": pr.size if settings.page_size_semantics == "limit" else len(items),
        }
        return send(orjson.dumps(body), JSON, drip)

    async def trunk(request: Request) -> Response:
        early, drip = await guard(request)
        if early is not None:
            return early
        tid = request.path_params["trunkId"]
        for t in state.trunks:
            if t["id"] == tid:
                return send(orjson.dumps(t), JSON, drip)
        return error(404, "NOT_FOUND", f"trunk {tid!r} not found", request.url.path)

    async def health(request: Request) -> Response:
        return _json(200, {"status": "ok", "projectId": state.project_id})

    routes = [
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/v1/projects/{projectId}/calls", calls, methods=["GET"]),
        Route("/v1/projects/{projectId}/calls/export", export, methods=["GET"]),
        Route("/v1/projects/{projectId}/trunks", trunks, methods=["GET"]),
        Route("/v1/projects/{projectId}/trunks/{trunkId}", trunk, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 400)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "BAD_REQUEST")
        return error(status, code, str(getattr(exc, "detail", exc)), request.url.path)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
