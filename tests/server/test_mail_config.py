"""Mail settings: each bad one is named at start and the server exits with status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from booth_server.config import Config, ConfigError, SmtpSettings
from tests.server.test_cli import run
from tests.server.tls_support import certificates

GOOD_FROM = {"BOOTH_MAIL_FROM": "Sebastian <booths@example.org>"}


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"BOOTH_SMTP_URL": "http://mail.example.org"} | GOOD_FROM, "BOOTH_SMTP_URL: use smtp://"),
        ({"BOOTH_SMTP_URL": "smtp://"} | GOOD_FROM, "names no host"),
        ({"BOOTH_SMTP_URL": "smtp://mail.example.org:99999"} | GOOD_FROM, "BOOTH_SMTP_URL: not a valid URL"),
        ({"BOOTH_SMTP_URL": "smtp://:secret@mail.example.org"} | GOOD_FROM, "a password needs a user name"),
        ({"BOOTH_SMTP_URL": "smtp://mail.example.org/inbox"} | GOOD_FROM, "give only user, password"),
        ({"BOOTH_SMTP_URL": "smtp://mail.example.org"}, "BOOTH_MAIL_FROM is not"),
        ({"BOOTH_MAIL_FROM": "booths"}, "BOOTH_MAIL_FROM: 'booths' is not an e-mail address"),
        ({"BOOTH_SMTP_PASSWORD_FILE": "/nonexistent"}, "BOOTH_SMTP_URL is not"),
        (
            {"BOOTH_SMTP_URL": "smtp://u@mail.example.org", "BOOTH_SMTP_PASSWORD_FILE": "/nonexistent"}
            | GOOD_FROM,
            "BOOTH_SMTP_PASSWORD_FILE: cannot read /nonexistent",
        ),
        (
            {"BOOTH_SMTP_URL": "smtps://mail.example.org", "BOOTH_SMTP_CA_FILE": "/nonexistent/ca.pem"}
            | GOOD_FROM,
            "BOOTH_SMTP_CA_FILE: cannot read /nonexistent/ca.pem: No such file or directory",
        ),
        ({"BOOTH_SMTP_CA_FILE": "/etc/hostname"}, "BOOTH_SMTP_CA_FILE is set but BOOTH_SMTP_URL is not"),
        ({"BOOTH_MAIL_MAX_ATTEMPTS": "0"}, "BOOTH_MAIL_MAX_ATTEMPTS"),
        ({"BOOTH_MAIL_RETRY_SECONDS": "soon"}, "BOOTH_MAIL_RETRY_SECONDS"),
    ],
)
def test_bad_mail_settings_are_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.load({}, env)
    assert needle in str(refused.value)


def test_a_ca_file_that_holds_no_certificate_is_named_and_the_server_exits_2(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    env = {"BOOTH_SMTP_URL": "smtps://mail.example.org", "BOOTH_SMTP_CA_FILE": str(not_pem)} | GOOD_FROM
    result = run("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"BOOTH_SMTP_CA_FILE: {not_pem} holds no PEM certificate" in result.stderr
    assert "Traceback" not in result.stderr
    certs = certificates(tmp_path / "tls")
    settings = Config.load({}, env | {"BOOTH_SMTP_CA_FILE": str(certs.ca_file)}).smtp()
    assert settings is not None and settings.ca_file == str(certs.ca_file)


def test_the_server_exits_2_on_a_bad_mail_setting_without_showing_the_password(tmp_path: Path) -> None:
    env = {"BOOTH_SMTP_URL": "smtp://booths:hunter22@mail.example.org"}  # no BOOTH_MAIL_FROM
    result = run("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "BOOTH_MAIL_FROM is not" in result.stderr
    assert "Traceback" not in result.stderr and "hunter22" not in result.stderr


def test_smtp_urls_and_the_password_file(tmp_path: Path) -> None:
    password_file = tmp_path / "smtp.password"
    password_file.write_text("p@ss word\n")
    secret_url = "smtps://booths%40example.org:s%3Acret@mail.example.org"
    assert SmtpSettings.parse(secret_url, None) == SmtpSettings(
        "mail.example.org", 465, True, "booths@example.org", "s:cret"
    )
    from_file = SmtpSettings.parse("smtp://booths@mail.example.org", str(password_file))
    assert (from_file.port, from_file.implicit_tls, from_file.password) == (587, False, "p@ss word")
    assert from_file.require_starttls
    assert not SmtpSettings.parse("smtp://127.0.0.1:2525", None).require_starttls
    config = Config.load({}, {"BOOTH_SMTP_URL": secret_url} | GOOD_FROM)
    assert "s:cret" not in repr(config) and "s%3Acret" not in repr(config)
    assert config.sender() == ("Sebastian", "booths@example.org")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        SmtpSettings.parse("smtp://u@mail.example.org", str(empty))
