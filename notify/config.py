"""The alert configuration file (TOML): channels, recipients by district, and the nightly schedule.

Secrets never live in the file: an SMTP password or a webhook URL (which carries its token) is named
by an environment variable (``password_env``, ``url_env``). A file that writes them directly is
refused, so it can be committed or shared safely.

Without a configuration file, alerts go to the console and to a JSON-lines file in the data folder.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.alerting import Lifecycle, Route
from engine.deadlines import ALERT_LEVELS
from engine.errors import InvalidInput
from engine.values import clean_text, digits_problem, parse_clock

ENV_CONFIG = "DONGFLOW_CONFIG"
CHANNEL_TYPES = ("console", "file", "email", "webhook")
SECURITY = ("starttls", "ssl", "none")


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dongflow" / "config.toml"


def default_alert_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dongflow" / "alerts.jsonl"


@dataclass(frozen=True)
class Recipient:
    address: str
    districts: frozenset[str] = field(default_factory=frozenset)
    levels: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    districts: frozenset[str] = field(default_factory=frozenset)
    levels: frozenset[str] = field(default_factory=frozenset)
    path: Path | None = None
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str = ""
    ca_file: str | None = None
    recipients: tuple[Recipient, ...] = ()
    url_env: str | None = None
    url: str | None = None
    """Only for webhooks without secrets in the URL (e.g. a local relay); prefer url_env."""
    timeout: float = 10.0
    payload: str = "json"
    """``json``: {"text": ..., "alerts": [...]} (Slack reads the text); ``slack``: {"text": ...} only."""

    def routes(self) -> list[Route]:
        if self.type == "email":
            return [
                Route(self.name, r.address, r.districts or self.districts, r.levels or self.levels)
                for r in self.recipients
            ]
        return [Route(self.name, "-", self.districts, self.levels)]

    def secret(self, env_name: str | None, what: str) -> str | None:
        if env_name is None:
            return None
        value = os.environ.get(env_name)
        if not value:
            raise InvalidInput(f"environment variable {env_name} is not set", field=f"channel {self.name} {what}")
        return value


@dataclass(frozen=True)
class Schedule:
    hour: int = 2
    minute: int = 0
    timezone: str = "Asia/Seoul"
    misfire_grace_minutes: int = 360
    lease_seconds: int = 600


@dataclass(frozen=True)
class AlertConfig:
    channels: tuple[ChannelConfig, ...]
    schedule: Schedule = field(default_factory=Schedule)
    lang: str = "ko"
    source: str = "(defaults)"
    lifecycle: Lifecycle = field(default_factory=Lifecycle)

    def routes(self) -> list[Route]:
        return [r for c in self.channels for r in c.routes()]

    def channel(self, name: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.name == name), None)


def default_config() -> AlertConfig:
    return AlertConfig(
        channels=(
            ChannelConfig(name="console", type="console"),
            ChannelConfig(name="file", type="file", path=default_alert_file()),
        )
    )


def load_config(path: str | Path | None) -> AlertConfig:
    """The configuration at ``path``; with no path, the default file if it exists, else defaults."""
    explicit = path is not None
    file = Path(path) if path is not None else default_config_path()
    if not file.exists():
        if explicit:
            raise InvalidInput("no such configuration file", file=str(file))
        return default_config()
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", file=str(file)) from None
    except UnicodeDecodeError:
        raise InvalidInput("not UTF-8 text", file=str(file)) from None
    return parse_config(text, str(file))


def parse_config(text: str, source: str) -> AlertConfig:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        raise InvalidInput(f"invalid TOML: {exc}", file=source, line=int(m.group(1)) if m else None) from None
    return _Parser(source).config(data)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> InvalidInput:
        return InvalidInput(message, file=self.source, field=where)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(where, f"unknown key {key!r} (expected one of: {', '.join(sorted(allowed))})")

    def text(self, table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str | None:
        value = table.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", "must be non-empty text")
        return value.strip()

    def number(self, table: Mapping[str, Any], key: str, where: str, default: float, low: float, high: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self.fail(f"{where}.{key}", f"must be a number from {low:g} to {high:g}, not {value!r}")
        return value

    def names(self, table: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...] | None = None) -> frozenset[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(f"{where}.{key}", "must be a list of names")
        cleaned = frozenset(clean_text(v, f"{where}.{key}") for v in value)
        if allowed is not None:
            bad = sorted(cleaned - set(allowed))
            if bad:
                raise self.fail(f"{where}.{key}", f"unknown {', '.join(bad)} (expected: {', '.join(allowed)})")
        return cleaned

    def config(self, data: Mapping[str, Any]) -> AlertConfig:
        self.keys(data, {"lang", "scheduler", "channels", "lifecycle"}, "config")
        lang = data.get("lang", "ko")
        if lang not in ("ko", "en"):
            raise self.fail("lang", "must be ko or en")
        schedule = self.schedule(data.get("scheduler", {}))
        raw_channels = data.get("channels", [])
        if not isinstance(raw_channels, list) or not raw_channels:
            raise self.fail("channels", "at least one [[channels]] table is needed")
        channels = [self.channel(c, f"channels[{i + 1}]") for i, c in enumerate(raw_channels)]
        names = [c.name for c in channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise self.fail("channels", f"channel name {dupes[0]!r} is used twice")
        network = [c for c in channels if c.type in ("email", "webhook")]
        slowest = max(network, key=lambda c: c.timeout) if network else None
        if slowest is not None and schedule.lease_seconds < 2 * slowest.timeout:
            # A send that stalls past the lease would let another run take over and send again.
            raise self.fail(
                "scheduler.lease_seconds",
                f"{schedule.lease_seconds} s is too short for channel {slowest.name!r} (timeout "
                f"{slowest.timeout:g} s); make it at least twice the slowest channel's timeout",
            )
        lifecycle = self.lifecycle(data.get("lifecycle", {}), {c.name: c for c in channels})
        return AlertConfig(tuple(channels), schedule, lang, self.source, lifecycle)

    def lifecycle(self, table: Any, channels: Mapping[str, ChannelConfig]) -> Lifecycle:
        where = "lifecycle"
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        self.keys(table, {"remind_every", "escalate_after", "escalate_levels", "office", "resolved_notice",
                          "holidays"}, where)
        default = Lifecycle()
        remind = table.get("remind_every", dict(default.remind_every))
        if not isinstance(remind, dict):
            raise self.fail(f"{where}.remind_every", "must be a table of level = business days, e.g. { escalated = 5 }")
        for level, days in remind.items():
            if level not in ALERT_LEVELS:
                raise self.fail(f"{where}.remind_every", f"unknown level {level!r} (expected: {', '.join(ALERT_LEVELS)})")
            self.number(remind, level, f"{where}.remind_every", 0, 1, 365)
        escalate_after = int(self.number(table, "escalate_after", where, default.escalate_after, 0, 365))
        levels = self.names(table, "escalate_levels", where, ALERT_LEVELS) if "escalate_levels" in table else default.escalate_levels
        notice = table.get("resolved_notice", False)
        if not isinstance(notice, bool):
            raise self.fail(f"{where}.resolved_notice", "must be true or false")
        country = table.get("holidays", "KR")
        if not isinstance(country, str):
            raise self.fail(f"{where}.holidays", "must be a country code such as \"KR\", or \"\" for weekends only")
        office = []
        raw = table.get("office", [])
        if not isinstance(raw, list):
            raise self.fail(f"{where}.office", "must be a list of [[lifecycle.office]] tables")
        for i, item in enumerate(raw):
            at = f"{where}.office[{i + 1}]"
            if not isinstance(item, dict):
                raise self.fail(at, "must be a table")
            self.keys(item, {"channel", "address"}, at)
            name = self.text(item, "channel", at)
            channel = channels.get(name or "")
            if channel is None:
                raise self.fail(f"{at}.channel", f"no channel named {name!r}")
            address = self.text(item, "address", at)
            if channel.type == "email":
                if not address or not re.match(r"^[^@\s]+@[^@\s]+$", address):
                    raise self.fail(f"{at}.address", "an e-mail channel needs the office's address")
                office.append((channel.name, address))
            else:
                if address:
                    raise self.fail(f"{at}.address", f"channel {name!r} ({channel.type}) has no recipients")
                office.append((channel.name, "-"))
        return Lifecycle(
            remind_every={k: int(v) for k, v in remind.items()},
            escalate_after=escalate_after,
            escalate_levels=frozenset(levels),
            office=tuple(office),
            resolved_notice=notice,
            country=country or None,
        )

    def schedule(self, table: Any) -> Schedule:
        if not isinstance(table, dict):
            raise self.fail("scheduler", "must be a table")
        self.keys(table, {"time", "timezone", "misfire_grace_minutes", "lease_seconds"}, "scheduler")
        when = table.get("time", "02:00")
        try:
            hour, minute = parse_clock(when if isinstance(when, str) else "", "scheduler.time")
        except InvalidInput:  # '０２:００' says which digits; anything else, the form to write
            problem = digits_problem(when) if isinstance(when, str) else None
            raise self.fail("scheduler.time", problem or f"must be HH:MM, not {when!r}") from None
        tz = table.get("timezone", "Asia/Seoul")
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise self.fail("scheduler.timezone", f"unknown time zone {tz!r}") from None
        return Schedule(
            hour=hour,
            minute=minute,
            timezone=tz,
            misfire_grace_minutes=int(self.number(table, "misfire_grace_minutes", "scheduler", 360, 1, 7 * 24 * 60)),
            lease_seconds=int(self.number(table, "lease_seconds", "scheduler", 600, 2, 24 * 3600)),
        )

    def channel(self, table: Any, where: str) -> ChannelConfig:
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        ctype = table.get("type")
        if ctype not in CHANNEL_TYPES:
            raise self.fail(f"{where}.type", f"must be one of {', '.join(CHANNEL_TYPES)}, not {ctype!r}")
        for secret in ("password", "webhook_url", "token"):
            if secret in table:
                raise self.fail(
                    f"{where}.{secret}",
                    "secrets do not go in the file; name an environment variable instead "
                    "(password_env, url_env)",
                )
        common = {"name", "type", "districts", "levels", "timeout"}
        extra = {
            "console": set(),
            "file": {"path"},
            "email": {"host", "port", "security", "username", "password_env", "sender", "ca_file", "recipients"},
            "webhook": {"url_env", "url", "payload"},
        }[ctype]
        self.keys(table, common | extra, where)
        name = self.text(table, "name", where, ctype)
        assert name is not None
        base: dict[str, Any] = {
            "name": name,
            "type": ctype,
            "districts": self.names(table, "districts", where),
            "levels": self.names(table, "levels", where, ALERT_LEVELS),
            "timeout": self.number(table, "timeout", where, 10.0 if ctype != "email" else 30.0, 0.1, 600),
        }
        if ctype == "file":
            path = self.text(table, "path", where)
            base["path"] = Path(path).expanduser() if path else default_alert_file()
        elif ctype == "email":
            base["host"] = self.text(table, "host", where)
            if not base["host"]:
                raise self.fail(f"{where}.host", "an e-mail channel needs the SMTP host")
            security = table.get("security", "starttls")
            if security not in SECURITY:
                raise self.fail(f"{where}.security", f"must be one of {', '.join(SECURITY)}")
            base["security"] = security
            base["port"] = int(self.number(table, "port", where, 465 if security == "ssl" else 587, 1, 65535))
            base["username"] = self.text(table, "username", where)
            base["password_env"] = self.text(table, "password_env", where)
            if base["username"] and not base["password_env"]:
                raise self.fail(f"{where}.password_env", "a username needs password_env (the variable holding the password)")
            sender = self.text(table, "sender", where)
            if not sender or "@" not in sender:
                raise self.fail(f"{where}.sender", "must be an e-mail address")
            base["sender"] = sender
            base["ca_file"] = self.text(table, "ca_file", where)
            recipients = table.get("recipients", [])
            if not isinstance(recipients, list) or not recipients:
                raise self.fail(f"{where}.recipients", "an e-mail channel needs [[channels.recipients]] with an address")
            base["recipients"] = tuple(self.recipient(r, f"{where}.recipients[{i + 1}]") for i, r in enumerate(recipients))
        elif ctype == "webhook":
            base["url_env"] = self.text(table, "url_env", where)
            base["url"] = self.text(table, "url", where)
            if not base["url_env"] and not base["url"]:
                raise self.fail(f"{where}.url_env", "a webhook needs url_env (the variable holding its URL)")
            if base["url"] and not re.match(r"^https?://", base["url"]):
                raise self.fail(f"{where}.url", "must start with http:// or https://")
            payload = table.get("payload", "json")
            if payload not in ("json", "slack"):
                raise self.fail(f"{where}.payload", "must be json or slack")
            base["payload"] = payload
        return ChannelConfig(**base)

    def recipient(self, table: Any, where: str) -> Recipient:
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        self.keys(table, {"address", "districts", "levels"}, where)
        address = self.text(table, "address", where)
        if not address or not re.match(r"^[^@\s]+@[^@\s]+$", address):
            raise self.fail(f"{where}.address", f"must be an e-mail address, not {address!r}")
        return Recipient(address, self.names(table, "districts", where), self.names(table, "levels", where, ALERT_LEVELS))


def next_run_after(schedule: Schedule, moment: dt.datetime) -> dt.datetime:
    """The first scheduled time strictly after ``moment`` (for messages and catch-up checks)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(schedule.timezone)
    local = moment.astimezone(tz)
    candidate = local.replace(hour=schedule.hour, minute=schedule.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += dt.timedelta(days=1)
    return candidate


def previous_run_before(schedule: Schedule, moment: dt.datetime) -> dt.datetime:
    """The last scheduled time at or before ``moment``: a run should have happened then."""
    return next_run_after(schedule, moment) - dt.timedelta(days=1)
