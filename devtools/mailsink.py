"""`python -m devtools.mailsink --port N --dir var/mail`: the local SMTP server of
`make run` (aiosmtpd). It delivers nothing: every message is kept as an `.eml` file in
the directory (open it in any mail program, or read it as text) and one line per message
(to, subject) goes to stdout. No account, no network beyond 127.0.0.1."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class SaveToDirectory:
    """aiosmtpd handler: each message becomes `<time>-<n>.eml` in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        with self._lock:
            self.count += 1
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{self.count:05d}.eml"
        content = cast(bytes, envelope.original_content or envelope.content or b"")
        (self.directory / name).write_bytes(content)
        subject = message_from_bytes(content, policy=default).get("Subject", "")
        print(f"mail to {', '.join(envelope.rcpt_tos)}: {subject}  ({name})", flush=True)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.mailsink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error("--port must be between 1 and 65535")
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(SaveToDirectory(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail sink on {args.host}:{args.port}, messages kept in {args.dir}/", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
