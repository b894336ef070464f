"""WSGI app for bench/load.py: the real blog and a trivial Flask route in one process.

    gunicorn bench.load_app:app --workers 4 --bind 127.0.0.1:8000

The blog (blog.create_app(), configured from the environment like `app.py`) answers every
path; /trivial/ is a one-route Flask app that returns "ok". Both run in the same gunicorn
workers, so the trivial route's throughput is the ceiling for this server, worker count,
machine and load generator, and the blog's pages are reported as a ratio to it.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from blog import create_app

TRIVIAL_PREFIX = "/trivial"


def trivial_app() -> Flask:
    trivial = Flask("trivial")

    @trivial.route("/")
    def ok() -> str:
        return "ok"

    return trivial


blog = create_app()
app = DispatcherMiddleware(blog, {TRIVIAL_PREFIX: trivial_app()})
