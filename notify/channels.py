"""The channels that carry alerts out of dongflow: console, JSON-lines file, e-mail, webhook.

Each channel either accepts a message or raises :class:`ChannelDown` with a reason; the runner marks
deliveries sent only after acceptance. ``batch`` says how many alerts one message carries: the
file and console write one alert per message, e-mail sends one digest per recipient and run, and a
webhook posts up to 50 alerts at a time. A message is the unit that may repeat if the process dies
while it is in flight; it carries a key fixed before its first attempt, from which the e-mail's
``Message-ID``, the webhook's ``Idempotency-Key`` header and each JSON line's ``message_id`` come, so
a receiver can recognise the repeat.
"""

from __future__ import annotations

import base64
import json
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Protocol

from engine.alerting import AlertView, digest_subject, digest_text
from notify.config import ChannelConfig


class ChannelDown(Exception):
    """The channel did not accept the message (server down, refused, timed out)."""


@dataclass(frozen=True)
class Message:
    """One message to one recipient: alerts of one kind, and the key it was claimed under.

    The key is fixed in the database before the first attempt and kept until the message is
    recorded as sent, so a repeat (after a crash between sending and recording, or a retry after a
    timeout the server had in fact accepted) carries the same ``Message-ID`` / ``Idempotency-Key``.
    """

    recipient: str
    alerts: Sequence[AlertView]
    key: str
    kind: str = "alert"


def message_id(key: str, sender: str) -> str:
    """The e-mail ``Message-ID`` of a message key (RFC 5322: ``<left@right>``)."""
    return f"<dongflow.{key}@{sender.rsplit('@', 1)[-1].strip('<> ') or 'dongflow'}>"


def idempotency_key(key: str) -> str:
    """The webhook's ``Idempotency-Key`` header for a message key."""
    return f"dongflow-{key}"


class Channel(Protocol):
    name: str
    batch: int

    def send(self, message: Message) -> None: ...


class ConsoleChannel:
    batch = 1

    def __init__(self, config: ChannelConfig, write: Callable[[str], None], lang: str) -> None:
        self.name = config.name
        self.write = write
        self.lang = lang

    def send(self, message: Message) -> None:
        from engine.alerting import ALERT, KIND_LABELS, label

        for a in message.alerts:
            kind = "" if message.kind == ALERT else f"{label(KIND_LABELS, message.kind, self.lang)} #{a.id} "
            self.write(
                f"{kind}[{a.level_label(self.lang)}] {a.gu} {a.dong} ({a.key}) {a.milestone_label} "
                f"{a.due.isoformat()}: {a.reason}"
            )


class FileChannel:
    """Appends one JSON object per line; flushed so a killed process loses nothing written."""

    batch = 1

    def __init__(self, config: ChannelConfig) -> None:
        assert config.path is not None
        self.name = config.name
        self.path = config.path

    def send(self, message: Message) -> None:
        lines = "".join(json.dumps(a.as_dict(), ensure_ascii=False) + "\n" for a in message.alerts)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise ChannelDown(f"cannot write {self.path}: {exc.strerror or exc}") from None


class EmailChannel:
    """SMTP with STARTTLS or SSL and optional login; UTF-8 subject and body (RFC 2047 / 6532)."""

    batch = 500

    def __init__(self, config: ChannelConfig, lang: str) -> None:
        self.name = config.name
        self.config = config
        self.lang = lang

    def message(self, recipient: str, alerts: Sequence[AlertView], key: str) -> MIMEText:
        """The digest as a UTF-8 text message.

        The subject is encoded with :class:`email.header.Header`, which splits Korean text into
        RFC 2047 words between characters. ``email.policy.default`` (EmailMessage) folds between
        words instead and, on Python 3.11, drops the space at the fold: '공간개선 일정 경보' arrived
        as '공간개선 일정경보' for longer district names such as 동대문구.
        """
        msg = MIMEText(digest_text(alerts, self.lang), "plain", "utf-8")
        msg["Subject"] = Header(digest_subject(alerts, self.lang), "utf-8")
        msg["From"] = self.config.sender
        msg["To"] = recipient
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = message_id(key, self.config.sender)
        return msg

    def send(self, message: Message) -> None:
        recipient, alerts = message.recipient, message.alerts
        c = self.config
        password = c.secret(c.password_env, "password_env")
        context = ssl.create_default_context(cafile=c.ca_file) if c.security != "none" else None
        try:
            if c.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=context)
            else:
                client = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            with client:
                client.ehlo()
                if c.security == "starttls":
                    client.starttls(context=context)
                    client.ehlo()
                if c.username:
                    _login(client, c.username, password or "")
                refused = client.send_message(self.message(recipient, alerts, message.key))
                if refused:
                    raise ChannelDown(f"the server refused {', '.join(refused)}")
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise ChannelDown(f"SMTP {c.host}:{c.port}: {_reason(exc)}") from None


class WebhookChannel:
    """POSTs JSON; Slack incoming webhooks read the ``text`` field."""

    batch = 50

    def __init__(self, config: ChannelConfig, lang: str) -> None:
        self.name = config.name
        self.config = config
        self.lang = lang

    def payload(self, alerts: Sequence[AlertView], key: str | None = None, kind: str = "alert") -> dict[str, object]:
        body: dict[str, object] = {"text": digest_subject(alerts, self.lang) + "\n" + digest_text(alerts, self.lang)}
        if self.config.payload == "json":
            body["alerts"] = [a.as_dict() for a in alerts]
            body["kind"] = kind
            if key is not None:
                body["idempotency_key"] = idempotency_key(key)
        return body

    def send(self, message: Message) -> None:
        c = self.config
        url = c.secret(c.url_env, "url_env") if c.url_env else c.url
        assert url is not None
        data = json.dumps(self.payload(message.alerts, message.key, message.kind), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": idempotency_key(message.key)},
        )
        where = _safe_url(url)
        try:
            with urllib.request.urlopen(request, timeout=c.timeout) as response:  # noqa: S310 - http(s) checked in config
                status = response.status
        except urllib.error.HTTPError as exc:
            raise ChannelDown(f"webhook {where}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, socket.timeout) as exc:
            raise ChannelDown(f"webhook {where}: {_reason(exc)}") from None
        if not 200 <= status < 300:
            raise ChannelDown(f"webhook {where}: HTTP {status}")


def _login(client: smtplib.SMTP, user: str, password: str) -> None:
    """Log in; smtplib sends credentials as ASCII only, so non-ASCII ones go as AUTH PLAIN in UTF-8
    (RFC 4616) instead of crashing with UnicodeEncodeError."""
    if (user + password).isascii():
        client.login(user, password)
        return
    client.ehlo_or_helo_if_needed()
    offered = client.esmtp_features.get("auth", "").upper().split() if client.has_extn("auth") else []
    if "PLAIN" not in offered:
        raise ChannelDown("the server does not offer AUTH PLAIN, needed for a non-ASCII user name or password")
    token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, response = client.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


def build_channel(config: ChannelConfig, write: Callable[[str], None], lang: str) -> Channel:
    if config.type == "console":
        return ConsoleChannel(config, write, lang)
    if config.type == "file":
        return FileChannel(config)
    if config.type == "email":
        return EmailChannel(config, lang)
    return WebhookChannel(config, lang)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and exc.reason is not None:
        exc_reason = exc.reason
        return str(exc_reason) if not isinstance(exc_reason, BaseException) else _reason(exc_reason)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _safe_url(url: str) -> str:
    """Scheme and host only: the path of a webhook URL is its secret."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
