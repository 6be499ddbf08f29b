"""The channels against real servers on loopback: what counts as delivered, and no secret leaks."""

from __future__ import annotations

import re
import socket

import pytest
from aiosmtpd.smtp import AuthResult

from pipeline.alerts.delivery import (
    ATTEMPTS,
    DeliveryError,
    Email,
    Webhook,
    configured_channels,
)
from pipeline.settings import SettingsError
from pipeline.sinch.redact import redact
from tests.alerts.receivers import WEBHOOK_PATH, _EphemeralController, _Inbox, webhook_receiver

TOKEN = "s3cr3t-w3bh00k-t0k3n"
PASSWORD = "smtp-pa55word-xyz"


def test_a_4xx_is_final_and_names_no_secret() -> None:
    with webhook_receiver() as hook:
        wrong = hook.url.replace(WEBHOOK_PATH, f"/services/T0ALERTS/B0TEST/{TOKEN}-gone")
        with pytest.raises(DeliveryError) as caught:
            Webhook(wrong).send("s", "hello")
    assert "HTTP 404" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(Webhook(wrong))


def test_5xx_is_retried_within_the_send() -> None:
    with webhook_receiver(fail_first=ATTEMPTS - 1) as hook:
        Webhook(hook.url).send("s", "hello")
    assert hook.failed == ATTEMPTS - 1 and hook.texts() == ["hello"]


def test_an_unreachable_webhook_fails_without_the_url() -> None:
    with socket.socket() as s:  # a port nobody listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/services/T0ALERTS/B0TEST/{TOKEN}"
        with pytest.raises(DeliveryError) as caught:
            Webhook(url).send("s", "hello")
    assert TOKEN not in str(caught.value)


def test_the_environment_registers_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"https://hooks.example.test/services/T0ALERTS/B0TEST/{TOKEN}?key=qu3ry-t0k3n"
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALERT_EMAIL_FROM", "a@example.test")
    monkeypatch.setenv("ALERT_EMAIL_TO", "b@example.test,c@example.test")
    monkeypatch.setenv("ALERT_SMTP_USER", "alerts")
    monkeypatch.setenv("ALERT_SMTP_PASSWORD", PASSWORD)
    webhook, email = configured_channels()
    assert isinstance(email, Email) and email.security == "starttls" and email.port == 587
    assert email.recipients == ("b@example.test", "c@example.test")
    text = redact(f"POST {url} failed; login alerts:{PASSWORD}")
    assert TOKEN not in text and "qu3ry-t0k3n" not in text and PASSWORD not in text
    assert "T0ALERTS" not in text and "B0TEST" not in text
    assert redact("the services list") == "the services list"  # plain words stay readable
    assert PASSWORD not in repr(email) and TOKEN not in repr(webhook)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALERT_WEBHOOK_URL": "hooks.example.test/x"}, "must be an http(s) URL"),
        ({"ALERT_SMTP_HOST": "h"}, "also set ALERT_EMAIL_FROM and ALERT_EMAIL_TO"),
        ({"ALERT_SMTP_HOST": "h", "ALERT_EMAIL_FROM": "a@x", "ALERT_EMAIL_TO": "b@x",
          "ALERT_SMTP_SECURITY": "tls"}, "ALERT_SMTP_SECURITY must be"),
        ({"ALERT_SMTP_HOST": "h", "ALERT_EMAIL_FROM": "a@x", "ALERT_EMAIL_TO": "b@x",
          "ALERT_SMTP_PORT": "smtp"}, "ALERT_SMTP_PORT must be"),
    ],
)  # fmt: skip
def test_incomplete_channels_are_settings_errors(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ALERT_WEBHOOK_URL", "ALERT_SMTP_HOST", "ALERT_SMTP_USER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=re.escape(message)):
        configured_channels()


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == b"alerts" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def test_smtp_login_and_a_refused_password_that_stays_secret() -> None:
    inbox = _Inbox()
    controller = _EphemeralController(
        inbox, hostname="127.0.0.1", port=0, authenticator=_authenticator,
        auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    try:
        good = Email("127.0.0.1", controller.port, "a@example.test", ("b@example.test",),
                     "none", "alerts", PASSWORD)  # fmt: skip
        good.send("[WARN] subject", "body text")
        bad = Email("127.0.0.1", controller.port, "a@example.test", ("b@example.test",),
                    "none", "alerts", "wrong-" + PASSWORD)  # fmt: skip
        with pytest.raises(DeliveryError) as caught:
            bad.send("[WARN] subject", "body text")
    finally:
        controller.stop()
    assert [m["Subject"] for m in inbox.messages] == ["[WARN] subject"]
    assert "535" in str(caught.value) and PASSWORD not in str(caught.value)
