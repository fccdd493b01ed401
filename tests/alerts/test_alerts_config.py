"""The alert configuration file: secrets refused, errors that name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from engine.errors import InvalidInput
from notify.config import default_config, load_config, parse_config

FULL = """\
lang = "ko"

[scheduler]
time = "02:30"
timezone = "Asia/Seoul"
misfire_grace_minutes = 120
lease_seconds = 300

[[channels]]
name = "log"
type = "console"

[[channels]]
name = "file"
type = "file"
path = "/var/lib/dongflow/alerts.jsonl"

[[channels]]
name = "email"
type = "email"
host = "smtp.seoul.example"
port = 587
security = "starttls"
username = "dongflow"
password_env = "DONGFLOW_SMTP_PASSWORD"
sender = "dongflow@seoul.example"
ca_file = "/etc/ssl/certs/seoul-ca.pem"
timeout = 20
levels = ["overdue", "escalated", "at_risk"]

[[channels.recipients]]
address = "office@seoul.example"

[[channels.recipients]]
address = "jongno@seoul.example"
districts = ["종로구"]
levels = ["escalated"]

[[channels]]
name = "slack"
type = "webhook"
url_env = "DONGFLOW_SLACK_WEBHOOK_URL"
payload = "slack"
districts = ["마포구", "종로구"]

[lifecycle]
remind_every = { escalated = 5, overdue = 10 }
escalate_after = 10
escalate_levels = ["escalated", "at_risk"]
resolved_notice = true
holidays = "KR"

[[lifecycle.office]]
channel = "email"
address = "office@seoul.example"

[[lifecycle.office]]
channel = "slack"
"""


def run_with(tmp_path: Path, text: str) -> tuple[int, str, Path]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'none.db'}", "alerts", "run", "--config", str(path)],
                                catch_exceptions=False)
    return result.exit_code, result.stderr, path


def test_the_documented_example_parses_to_what_it_says() -> None:
    config = parse_config(FULL, "config.toml")
    assert (config.schedule.hour, config.schedule.minute, config.schedule.timezone) == (2, 30, "Asia/Seoul")
    assert (config.schedule.misfire_grace_minutes, config.schedule.lease_seconds) == (120, 300)
    assert [c.type for c in config.channels] == ["console", "file", "email", "webhook"]
    email = config.channel("email")
    assert email is not None and (email.port, email.security, email.timeout) == (587, "starttls", 20)
    routes = {(r.channel, r.recipient): r for r in config.routes()}
    office = routes[("email", "office@seoul.example")]
    jongno = routes[("email", "jongno@seoul.example")]
    assert office.wants("마포구", "overdue") and not office.wants("마포구", "due_soon")  # the channel's levels
    assert jongno.wants("종로구", "escalated") and not jongno.wants("종로구", "overdue")
    assert not jongno.wants("마포구", "escalated")
    slack = routes[("slack", "-")]
    assert slack.wants("마포구", "due_soon") and not slack.wants("강동구", "overdue")
    life = config.lifecycle
    assert life.remind_every == {"escalated": 5, "overdue": 10} and life.escalate_after == 10
    assert life.escalate_levels == {"escalated", "at_risk"} and life.resolved_notice and life.country == "KR"
    assert life.office == (("email", "office@seoul.example"), ("slack", "-"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[lifecycle]\nremind_every = { late = 3 }\n", "lifecycle.remind_every: unknown level 'late'"),
        ("[lifecycle]\nremind_every = { escalated = 0 }\n", "lifecycle.remind_every.escalated: must be a number from 1"),
        ("[lifecycle]\nescalate_after = -1\n", "lifecycle.escalate_after: must be a number from 0"),
        ("[lifecycle]\nresolved_notice = \"yes\"\n", "lifecycle.resolved_notice: must be true or false"),
        ("[lifecycle]\nsnooze = 3\n", "lifecycle: unknown key 'snooze'"),
        ("[[lifecycle.office]]\nchannel = \"nowhere\"\n", "lifecycle.office[1].channel: no channel named 'nowhere'"),
        ("[[lifecycle.office]]\nchannel = \"console\"\naddress = \"a@b.c\"\n", "lifecycle.office[1].address: channel 'console'"),
    ],
)
def test_lifecycle_mistakes_name_the_field(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected.replace("[", "\\[").replace("]", "\\]").replace("(", "\\(")):
        parse_config('[[channels]]\ntype = "console"\n' + text, "config.toml")


def test_the_docs_show_the_same_example() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"
    assert FULL.strip() in docs.read_text(encoding="utf-8"), "docs/alerts.md must carry the tested example"


@pytest.mark.parametrize(
    ("secret", "field"),
    [
        ('password = "hunter2"', "channels[1].password"),
        ('token = "xoxb-123"', "channels[1].token"),
        ('webhook_url = "https://hooks.slack.example/T0/B0/XYZ"', "channels[1].webhook_url"),
    ],
)
def test_a_secret_written_in_the_file_is_refused_with_one_line(tmp_path: Path, secret: str, field: str) -> None:
    text = f"""\
[[channels]]
name = "email"
type = "email"
host = "smtp.seoul.example"
sender = "dongflow@seoul.example"
{secret}

[[channels.recipients]]
address = "office@seoul.example"
"""
    code, err, path = run_with(tmp_path, text)
    assert code == 3
    assert err.count("\n") == 1 and err.startswith("Error: ")
    assert f"{path}: {field}: secrets do not go in the file" in err
    assert "hunter2" not in err and "xoxb" not in err and "XYZ" not in err


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    code, err, path = run_with(tmp_path, '[[channels]]\nname = "file"\ntype = file\n')
    assert code == 3 and err.count("\n") == 1
    assert err.startswith(f"Error: {path}:3: invalid TOML")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[channels]]\ntype = "pager"\n', "channels[1].type: must be one of console, file, email, webhook"),
        ('[[channels]]\ntype = "file"\ncolour = "red"\n', "channels[1]: unknown key 'colour'"),
        ('[scheduler]\ntime = "2am"\n[[channels]]\ntype = "console"\n', "scheduler.time: must be HH:MM"),
        ('[scheduler]\ntimezone = "Seoul"\n[[channels]]\ntype = "console"\n', "scheduler.timezone: unknown time zone"),
        ('[scheduler]\nlease_seconds = 1\n[[channels]]\ntype = "console"\n', "scheduler.lease_seconds: must be a number from 2"),
        ('[scheduler]\nlease_seconds = 30\n[[channels]]\ntype = "webhook"\nurl = "http://relay.local/x"\ntimeout = 20\n',
         "scheduler.lease_seconds: 30 s is too short for channel 'webhook' (timeout 20 s)"),
        ('[[channels]]\ntype = "email"\nhost = "h"\nsender = "a@b"\nusername = "u"\n[[channels.recipients]]\naddress = "x@y"\n',
         "channels[1].password_env: a username needs password_env"),
        ('[[channels]]\ntype = "email"\nhost = "h"\nsender = "a@b"\n', "channels[1].recipients: an e-mail channel needs"),
        ('[[channels]]\ntype = "webhook"\n', "channels[1].url_env: a webhook needs url_env"),
        ('[[channels]]\ntype = "webhook"\nurl = "ftp://x"\n', "channels[1].url: must start with http"),
        ('[[channels]]\ntype = "file"\nlevels = ["late"]\n', "channels[1].levels: unknown late"),
        ('[[channels]]\ntype = "console"\n[[channels]]\ntype = "console"\n', "channel name 'console' is used twice"),
        ('lang = "fr"\n[[channels]]\ntype = "console"\n', "lang: must be ko or en"),
        ("", "channels: at least one [[channels]] table is needed"),
    ],
)
def test_configuration_mistakes_name_the_field(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_config(text, "/etc/dongflow/config.toml")
    assert str(info.value).startswith("/etc/dongflow/config.toml: ")
    assert expected in str(info.value)


def test_a_named_config_file_that_does_not_exist_is_an_error_but_the_default_one_is_optional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInput, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing-here"))
    assert load_config(None) == default_config()
    cfg_dir = tmp_path / "cfg" / "dongflow"
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "config.toml").write_text('[[channels]]\ntype = "console"\n', encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert [c.name for c in load_config(None).channels] == ["console"]


def test_the_default_file_channel_writes_to_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    config = default_config()
    assert config.channel("file").path == tmp_path / "data" / "dongflow" / "alerts.jsonl"  # type: ignore[union-attr]
