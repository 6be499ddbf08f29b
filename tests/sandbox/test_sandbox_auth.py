"""OAuth2 token endpoint, Basic auth, token expiry (clock and mid-run)."""

from __future__ import annotations

import base64

import httpx
import orjson

from pipeline.sandbox.server import SandboxHandle


def token(sb: SandboxHandle, key: str | None = None, secret: str | None = None) -> httpx.Response:
    return httpx.post(
        sb.token_url,
        data={"grant_type": "client_credentials"},
        auth=(key or sb.key_id, secret or sb.key_secret),
    )


def calls(sb: SandboxHandle, bearer: str) -> httpx.Response:
    return httpx.get(
        sb.calls_url, params={"createTime": "2026-11-01", "size": 1},
        headers={"Authorization": f"Bearer {bearer}"},
    )  # fmt: skip


def test_token_shape_and_use(make_sandbox, clock):
    with make_sandbox(now=clock, token_lifetime_s=120) as sb:
        r = token(sb)
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 120 and body["scope"] == ""
        payload = body["access_token"].split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["exp"] - claims["iat"] == 120
        assert calls(sb, body["access_token"]).status_code == 200


def test_wrong_credentials_are_401(make_sandbox, clock):
    with make_sandbox(now=clock) as sb:
        assert token(sb, secret="wrong").status_code == 401
        r = httpx.get(sb.calls_url, auth=(sb.key_id, "wrong"))
        assert r.status_code == 401
        assert httpx.get(sb.calls_url).status_code == 401
        bad = calls(sb, "not-a-token")
        assert bad.status_code == 401
        assert "expired" not in bad.headers["www-authenticate"]
        r = httpx.post(
            sb.token_url, data={"grant_type": "password"}, auth=(sb.key_id, sb.key_secret)
        )
        assert r.status_code == 400


def test_form_client_credentials_are_accepted(make_sandbox, clock):
    with make_sandbox(now=clock) as sb:
        form = {
            "grant_type": "client_credentials",
            "client_id": sb.key_id,
            "client_secret": sb.key_secret,
        }
        r = httpx.post(sb.token_url, data=form)
        assert r.status_code == 200


def test_token_expires_with_the_clock(make_sandbox, clock):
    with make_sandbox(now=clock, token_lifetime_s=60) as sb:
        tok = token(sb).json()["access_token"]
        clock.advance(seconds=59)
        assert calls(sb, tok).status_code == 200
        clock.advance(seconds=1)
        r = calls(sb, tok)
        assert r.status_code == 401
        www = r.headers["www-authenticate"]
        assert "expired" in www and www.startswith("Bearer")
        assert r.json()["status"] == 401
        fresh = token(sb).json()["access_token"]
        assert calls(sb, fresh).status_code == 200


def test_token_expiry_mid_run_after_n_requests(make_sandbox, clock):
    with make_sandbox(now=clock, token_max_requests=3) as sb:
        tok = token(sb).json()["access_token"]
        assert [calls(sb, tok).status_code for _ in range(4)] == [200, 200, 200, 401]
        tok2 = token(sb).json()["access_token"]
        assert calls(sb, tok2).status_code == 200
        sb.app_state.expire_all_tokens()
        r = calls(sb, tok2)
        assert r.status_code == 401 and "expired" in r.headers["www-authenticate"]


def test_token_endpoint_429_without_retry_after(make_sandbox, clock):
    with make_sandbox(now=clock, token_rate_429=1.0, fault_max_consecutive=2) as sb:
        codes = [token(sb) for _ in range(3)]
        assert [r.status_code for r in codes] == [429, 429, 200]
        assert "retry-after" not in codes[0].headers
        assert codes[0].json()["error"] == "too_many_requests"
