"""A real SMTP server for the tests: aiosmtpd in a thread on a free port, plain, STARTTLS
(self-signed certificate the client is told to trust through SSL_CERT_FILE, so it is
really verified) or implicit TLS, with or without AUTH. It records what it accepts and
can refuse chosen recipients (4xx/5xx), slow down, or go away and come back."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devtools.redis_server import free_port

USER, SECRET = "mailer", "smtp-secret-123"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps accepted messages; refuses what `refuse` says."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> "550 ..." / "451 ..."
    delay: float = 0.0  # seconds before accepting each message
    rcpt_attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_attempts[address] = self.rcpt_attempts.get(address, 0) + 1
            reply = self.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for rcpts, _ in self.messages for r in rcpts]


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, SECRET)
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    """One aiosmtpd server; `settings` are the MAIL_* values that reach it."""

    mode: str = "plain"  # "plain", "starttls" or "ssl"
    auth: bool = False
    cert_dir: Path | None = None
    port: int = field(default_factory=free_port)
    recorder: Recorder = field(default_factory=Recorder)
    controller: Controller | None = None

    def _tls_context(self) -> ssl.SSLContext:
        cert, key = self.cert_dir / "smtp-cert.pem", self.cert_dir / "smtp-key.pem"
        if not cert.exists():
            self_signed_certificate(self.cert_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    def start(self) -> SmtpServer:
        options: dict = {}
        if self.mode == "starttls":
            options.update(tls_context=self._tls_context(), require_starttls=True)
        if self.mode == "ssl":
            options.update(ssl_context=self._tls_context())
        if self.auth:
            # aiosmtpd only counts STARTTLS as TLS; implicit TLS is encrypted all along.
            options.update(authenticator=_authenticate, auth_require_tls=self.mode == "starttls")
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def cert_file(self) -> str:
        return str(self.cert_dir / "smtp-cert.pem") if self.cert_dir else ""

    def settings(self, password: str = SECRET) -> dict[str, str]:
        values = {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(self.port),
            "MAIL_USE_TLS": "1" if self.mode == "starttls" else "",
            "MAIL_USE_SSL": "1" if self.mode == "ssl" else "",
            "MAIL_USERNAME": USER if self.auth else "",
            "MAIL_PASSWORD": password if self.auth else "",
            "MAIL_DEFAULT_SENDER": "A Redis Blog <news@blog.example>",
        }
        return values


@pytest.fixture
def smtp_server(tmp_path):
    """A plain SMTP server without AUTH (what a local relay looks like)."""
    server = SmtpServer(cert_dir=tmp_path).start()
    yield server
    server.stop()
