"""`make run`: an embedded, persistent Redis plus every Procfile.dev process, via honcho.

Data lives under var/ and survives restarts; Ctrl-C stops everything, Redis included.
When REDIS_URL is set, that Redis is used and none is started.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

import click
from dotenv import load_dotenv

from devtools.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("BLOG_VAR_DIR") or ROOT / "var")  # local data: Redis, media, ...


def dev_secret_key() -> str:
    """A random key kept in var/, so logins survive restarts without a secret in git."""
    path = VAR / "dev-secret-key"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_author(env: dict[str, str]) -> None:
    """Make sure someone can log in: prompt once for the first author, or say how."""
    os.environ.update(env)
    from blog import create_app

    app = create_app()
    with app.app_context():
        users = app.extensions["blog_data"].users
        if users.count():
            return
        if not sys.stdin.isatty():
            click.echo(
                "No author yet. While the blog runs, create one with:\n"
                f"  REDIS_URL={env['REDIS_URL']} .venv/bin/flask --app app create-user NAME"
            )
            return
        click.echo("No author exists yet: let's create the first one.")
        from blog.auth.cli import validate_password, validate_username

        name = click.prompt("Username", value_proc=validate_username)
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, value_proc=validate_password
        )
        users.create(name, password)
        click.echo(f"Created author {name!r}.")


def _stop_requested(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C and a plain `kill` both stop everything in order, even when SIGINT came in
    # ignored (a shell's background job) and would otherwise do nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_requested)
    load_dotenv(ROOT / ".env")
    env = {
        "APP_ENV": os.environ.get("APP_ENV", "development"),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or dev_secret_key(),
        "PORT": os.environ.get("PORT") or str(free_port_near(5000)),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(VAR / "media")),
        "BACKUP_ROOT": os.environ.get("BACKUP_ROOT", str(VAR / "backups")),
    }
    env.update(mail_settings(env["PORT"]))
    redis_server = None
    try:
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        else:
            # Its own session: Ctrl-C reaches only us, and Redis stops last (below).
            redis_server = RedisServer(VAR / "redis", persistent=True, own_session=True).start()
            env["REDIS_URL"] = redis_server.url
            click.echo(f"Redis (persistent, data in {VAR / 'redis'}) at {redis_server.url}")
        ensure_author(env)
        return run_processes(env)
    except KeyboardInterrupt:
        return 0  # Ctrl-C before the processes ran: nothing else to stop
    finally:
        # A second Ctrl-C (or kill) must not cut Redis's shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if redis_server:
            redis_server.stop()
            click.echo(f"Redis stopped; data kept in {VAR / 'redis'}.")


def run_processes(env: dict[str, str]) -> int:
    """Every Procfile.dev process under honcho, until Ctrl-C (then 0) or one of them dies."""
    honcho = [str(Path(sys.executable).parent / "honcho"), "-f", "Procfile.dev", "-d", str(ROOT)]
    # Procfile commands (flask, rq, ...) must come from this virtualenv.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # Its own session too: on Ctrl-C we stop honcho (and so the app's processes) while
    # Redis still runs, so no worker dies on a lost connection with a traceback.
    process = subprocess.Popen(
        [*honcho, "start"], env={**os.environ, **env, "PATH": path}, start_new_session=True
    )
    try:
        announce_when_up(process, env)
        return process.wait()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        click.echo("\nStopping the blog's processes, then Redis...")
        process.send_signal(signal.SIGTERM)  # honcho passes SIGTERM on to each process
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return 0


def announce_when_up(process: subprocess.Popen, env: dict[str, str], timeout: float = 90) -> None:
    """Print the address last, once web, worker and scheduler all answer (/healthz)."""
    port = int(env["PORT"])
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if everything_up(port):
            break
        time.sleep(0.3)
    else:
        if process.poll() is not None:
            return  # honcho has already said which process failed
        click.echo(f"Not every process answered within {timeout:.0f} s; see the log above.")
    click.secho(
        f"\n  Blog running at http://127.0.0.1:{port}/  (Ctrl-C stops it)\n  {mail_note(env)}\n",
        bold=True,
    )


def everything_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            health = json.load(answer)
    except (OSError, ValueError):
        return False  # not listening yet, or 503 while a process is still starting
    return health.get("workers", 0) >= 1 and health.get("scheduler") == "ok"


def mail_settings(web_port: str) -> dict[str, str]:
    """The local mail sink (Procfile.dev's `mail`) always runs; the blog sends to it
    unless the environment (or .env) names a real SMTP server in MAIL_SERVER."""
    sink = {"MAIL_SINK_PORT": str(free_port()), "MAIL_SINK_DIR": str(VAR / "mail")}
    if os.environ.get("MAIL_SERVER"):
        return sink
    return {
        **sink,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": sink["MAIL_SINK_PORT"],
        "MAIL_USE_TLS": "",
        "MAIL_USE_SSL": "",
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_RATE_PER_SECOND": os.environ.get("MAIL_RATE_PER_SECOND", "0"),
        "SITE_URL": os.environ.get("SITE_URL") or f"http://127.0.0.1:{web_port}",
    }


def mail_note(env: dict[str, str]) -> str:
    if os.environ.get("MAIL_SERVER"):
        return f"Mail goes to {os.environ['MAIL_SERVER']} (MAIL_SERVER)"
    return f"Mail it sends is kept in {env['MAIL_SINK_DIR']}/ (one line per message below)"


def free_port_near(preferred: int) -> int:
    """`preferred` unless something holds it. Tested with SO_REUSEADDR, as the servers
    bind: a port left in TIME_WAIT by the last run is free for them."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


if __name__ == "__main__":
    sys.exit(main())
