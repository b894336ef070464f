"""blog/mailer.py against a real SMTP server (aiosmtpd): plain, STARTTLS with a verified
self-signed certificate, implicit TLS, AUTH, and per-recipient refusals."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from blog.mailer import MailAuthError, MailConfigError, SmtpSession, SmtpSettings
from processing.mail import Envelope, Links, confirmation_message
from tests.mail_support import SmtpServer, smtp_server  # noqa: F401  (fixture)

ENV = Envelope("Blog <news@blog.example>", "Blog", Links("https://blog.example"))


def settings_for(server: SmtpServer, **changes) -> SmtpSettings:
    config = {**server.settings(), **changes}
    config["MAIL_PORT"] = int(config["MAIL_PORT"])
    return SmtpSettings.from_config(config)


@pytest.fixture
def trust_test_certificate(tmp_path, monkeypatch):
    """The client verifies the server's certificate against SSL_CERT_FILE, as a worker
    with a private CA would; nothing is switched off."""
    from tests.mail_support import self_signed_certificate

    cert, _ = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return tmp_path


@pytest.mark.parametrize(
    "mode, auth", [("plain", False), ("plain", True), ("starttls", True), ("ssl", True)]
)
def test_sends_in_every_mode(mode, auth, trust_test_certificate):
    server = SmtpServer(mode=mode, auth=auth, cert_dir=trust_test_certificate).start()
    try:
        with SmtpSession(settings_for(server)) as smtp:
            delivery = smtp.send(
                confirmation_message(ENV, "ada@example.com", "T"), "ada@example.com"
            )
        assert delivery.status == "sent"
        [(rcpts, message)] = server.recorder.messages
        assert rcpts == ["ada@example.com"]
        assert message["Subject"] == "Confirm your subscription to Blog"
    finally:
        server.stop()


def test_starttls_refuses_an_untrusted_certificate(tmp_path):
    server = SmtpServer(mode="starttls", cert_dir=tmp_path).start()
    try:
        with pytest.raises(ssl.SSLCertVerificationError), SmtpSession(settings_for(server)):
            pass
    finally:
        server.stop()


def test_wrong_password_says_which_settings_to_check(trust_test_certificate):
    server = SmtpServer(mode="starttls", auth=True, cert_dir=trust_test_certificate).start()
    try:
        with (
            pytest.raises(MailAuthError, match="MAIL_USERNAME and MAIL_PASSWORD"),
            SmtpSession(settings_for(server, MAIL_PASSWORD="wrong")),
        ):
            pass
    finally:
        server.stop()


def test_auth_without_tls_offered_is_a_config_error(trust_test_certificate):
    server = SmtpServer(mode="starttls", auth=True, cert_dir=trust_test_certificate).start()
    try:  # the server requires STARTTLS first; the settings forgot MAIL_USE_TLS
        with (
            pytest.raises(MailConfigError, match="MAIL_USE_TLS"),
            SmtpSession(settings_for(server, MAIL_USE_TLS="")),
        ):
            pass
    finally:
        server.stop()


def test_per_recipient_refusals_do_not_end_the_connection(smtp_server):  # noqa: F811
    smtp_server.recorder.refuse.update(
        {"gone@example.com": "550 5.1.1 No such user", "full@example.com": "452 4.2.2 Full"}
    )
    with SmtpSession(settings_for(smtp_server)) as smtp:
        outcomes = [
            smtp.send(confirmation_message(ENV, to, "T"), to)
            for to in ("gone@example.com", "full@example.com", "ada@example.com")
        ]
    assert [(d.status, d.code) for d in outcomes] == [
        ("bounced", 550),
        ("deferred", 452),
        ("sent", 250),
    ]
    assert "No such user" in outcomes[0].reply
    assert smtp_server.recorder.recipients() == ["ada@example.com"]


def test_server_down_raises(smtp_server):  # noqa: F811
    smtp_server.stop()
    with pytest.raises(OSError), SmtpSession(settings_for(smtp_server)):
        pass


def test_no_mail_server_is_a_config_error():
    with pytest.raises(MailConfigError, match="MAIL_SERVER"):
        SmtpSettings.from_config({"MAIL_SERVER": ""})


def test_server_gone_mid_session_raises(smtp_server):  # noqa: F811
    with SmtpSession(settings_for(smtp_server)) as smtp:
        smtp_server.stop()
        with pytest.raises((smtplib.SMTPException, OSError)):
            smtp.send(confirmation_message(ENV, "a@example.com", "T"), "a@example.com")


def test_make_runs_mail_sink_keeps_eml_files_and_prints_a_line(tmp_path):
    """devtools/mailsink.py, the `mail` process of Procfile.dev."""
    import subprocess
    import sys

    from devtools.redis_server import free_port
    from tests.helpers import ROOT, wait_for

    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "devtools.mailsink", "--port", str(port), "--dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "mail sink on" in sink.stdout.readline()
        config = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port}
        with SmtpSession(SmtpSettings.from_config(config)) as smtp:
            smtp.send(confirmation_message(ENV, "ada@example.com", "T"), "ada@example.com")
        line = sink.stdout.readline()
        assert "mail to ada@example.com: Confirm your subscription to Blog" in line
        [eml] = wait_for(lambda: list(tmp_path.glob("*.eml")), timeout=10)
        assert b"Subject: Confirm your subscription to Blog" in eml.read_bytes()
    finally:
        sink.terminate()
        assert sink.wait(timeout=10) == 0
