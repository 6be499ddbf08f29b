"""Deliver alerts: a Slack-compatible webhook and/or SMTP e-mail, settings from the environment.

- ``ALERT_WEBHOOK_URL``: POST ``{"text": "<message>"}`` (a Slack incoming webhook, or
  anything Slack-compatible: Mattermost, Rocket.Chat...);
- ``ALERT_SMTP_HOST``, ``ALERT_SMTP_PORT`` (default 25, 587 with ``starttls``, 465 with
  ``ssl``), ``ALERT_EMAIL_FROM``, ``ALERT_EMAIL_TO`` (comma-separated);
- ``ALERT_SMTP_USER``, ``ALERT_SMTP_PASSWORD``: optional login;
- ``ALERT_SMTP_SECURITY``: ``none``, ``starttls`` or ``ssl`` (default ``starttls`` with a
  login, else ``none``).

A channel is on when its variables are set. Each send is retried (tenacity: 3 attempts,
exponential backoff from 0.2 s) on connection errors, HTTP 429/5xx and temporary SMTP errors;
what still fails raises :class:`DeliveryError` and is retried on the sensor's next tick.

Secrets: the webhook URL (its path and query carry the token) and the SMTP password are
registered with :func:`pipeline.sinch.redact.register_secret` when read, and every error text
passes :func:`~pipeline.sinch.redact.redact`; messages name the channel and the status, never
the URL or a credential.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import tenacity

from pipeline.settings import SettingsError
from pipeline.sinch.redact import redact, register_secret

#: Attempts per alert and channel within one tick (the first included).
ATTEMPTS = 3
#: Seconds before the first retry (doubling, at most 2 s).
BACKOFF_S = 0.2
#: Seconds per HTTP exchange or SMTP operation.
TIMEOUT_S = 10.0


class DeliveryError(RuntimeError):
    """A channel did not accept an alert (the text holds no secret)."""


class _Retryable(Exception):
    """A failure worth another attempt (HTTP 429/5xx, a dropped connection)."""


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: HTTP 429/5xx, temporary SMTP errors, network errors.

    SMTP's own errors are ``OSError`` subclasses; only those :meth:`Email._submit` turned into
    :class:`_Retryable` are transient (a refused login or recipient is final).
    """
    if isinstance(exc, (_Retryable, httpx.TransportError)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _retrying() -> tenacity.Retrying:
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(_transient),
        wait=tenacity.wait_exponential(multiplier=BACKOFF_S, max=2.0),
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        reraise=True,
    )


def _failure(channel: str, exc: BaseException) -> DeliveryError:
    detail = redact(str(exc)) or type(exc).__name__
    tried = f" (after {ATTEMPTS} attempts)" if _transient(exc) else ""
    return DeliveryError(f"{channel}: {detail}{tried}")


@dataclass(frozen=True)
class Webhook:
    """POST ``{"text": message}`` to a URL; 2xx = accepted.

    Attributes:
        url: the webhook URL (a secret: never printed).
    """

    url: str = field(repr=False)
    name: str = "webhook"

    def send(self, subject: str, text: str) -> None:
        """Deliver one alert (``subject`` is unused: the text says it all).

        Raises:
            DeliveryError: no 2xx after :data:`ATTEMPTS` attempts, or a 4xx other than 429.
        """
        del subject
        try:
            with httpx.Client(timeout=TIMEOUT_S) as client:
                for attempt in _retrying():
                    with attempt:
                        self._post(client, text)
        except (_Retryable, httpx.HTTPError, OSError, DeliveryError) as exc:
            raise _failure(self.name, exc) from None

    def _post(self, client: httpx.Client, text: str) -> None:
        response = client.post(self.url, json={"text": text})
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}")


@dataclass(frozen=True)
class Email:
    """One e-mail per alert through an SMTP server.

    Attributes:
        host, port: the server.
        sender: the From address; recipients: the To addresses.
        security: ``none``, ``starttls`` or ``ssl``.
        user, password: optional login (the password is a secret: never printed).
    """

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    security: str = "none"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    name: str = "email"

    def send(self, subject: str, text: str) -> None:
        """Deliver one alert as a plain-text e-mail.

        Raises:
            DeliveryError: the server refused it or could not be reached, after retries.
        """
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = subject
        message.set_content(text)
        try:
            for attempt in _retrying():
                with attempt:
                    self._submit(message)
        except (smtplib.SMTPException, OSError, _Retryable) as exc:
            raise _failure(self.name, exc) from None

    def _submit(self, message: EmailMessage) -> None:
        opener: Callable[..., smtplib.SMTP] = (
            smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        )
        extra: dict[str, Any] = (
            {"context": ssl.create_default_context()} if self.security == "ssl" else {}
        )
        try:
            with opener(self.host, self.port, timeout=TIMEOUT_S, **extra) as smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError:
            raise
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            raise _Retryable(type(exc).__name__) from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:  # temporary: try again
                raise _Retryable(f"SMTP {exc.smtp_code}") from None
            raise


Channel = Webhook | Email


def _webhook_from_env() -> Webhook | None:
    url = os.environ.get("ALERT_WEBHOOK_URL", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        msg = "ALERT_WEBHOOK_URL must be an http(s) URL"
        raise SettingsError(msg)
    register_secret(url)
    register_secret(parts.path.strip("/"))
    for segment in parts.path.split("/"):
        if not segment.isalpha() or not segment.islower():  # "services", "hooks": no secret
            register_secret(segment)
    for _name, value in parse_qsl(parts.query):
        register_secret(value)
    return Webhook(url)


def _email_from_env() -> Email | None:
    host = os.environ.get("ALERT_SMTP_HOST", "").strip()
    if not host:
        return None
    sender = os.environ.get("ALERT_EMAIL_FROM", "").strip()
    recipients = tuple(
        a.strip() for a in os.environ.get("ALERT_EMAIL_TO", "").split(",") if a.strip()
    )
    if not sender or not recipients:
        msg = "ALERT_SMTP_HOST is set: also set ALERT_EMAIL_FROM and ALERT_EMAIL_TO"
        raise SettingsError(msg)
    user = os.environ.get("ALERT_SMTP_USER", "").strip() or None
    password = os.environ.get("ALERT_SMTP_PASSWORD") or None
    register_secret(password)
    security = os.environ.get("ALERT_SMTP_SECURITY", "starttls" if user else "none").strip()
    if security not in ("none", "starttls", "ssl"):
        msg = f"ALERT_SMTP_SECURITY must be none, starttls or ssl, not {security!r}"
        raise SettingsError(msg)
    default_port = {"none": "25", "starttls": "587", "ssl": "465"}[security]
    port_text = os.environ.get("ALERT_SMTP_PORT", "").strip() or default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        msg = f"ALERT_SMTP_PORT must be a TCP port, not {port_text!r}"
        raise SettingsError(msg)
    return Email(host, int(port_text), sender, recipients, security, user, password)


def configured_channels() -> list[Channel]:
    """The channels the environment sets up (none, the webhook, e-mail or both).

    Raises:
        SettingsError: a channel's variables are incomplete or invalid (no value is quoted
            but the security mode and port).
    """
    return [c for c in (_webhook_from_env(), _email_from_env()) if c is not None]


def subject_of(alert: dict[str, Any]) -> str:
    """The e-mail subject of an alert: severity, rule, trunk and hour."""
    direction = "" if alert["direction"] == "ALL" else f" {alert['direction']}"
    return (
        f"[{alert['severity']}] {alert['rule']}: trunk {alert['trunk_id']}{direction} "
        f"{alert['bucket']:%Y-%m-%d %H:%M}Z"
    )


def text_of(alert: dict[str, Any]) -> str:
    """The text sent for an alert: ``[WARN] rule: message``."""
    return f"[{alert['severity']}] {alert['rule']}: {alert['message']}"
