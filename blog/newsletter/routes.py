from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from processing.mail import Tokens

from ..auth import login_required
from ..data import get_data
from ..data.models import to_datetime
from . import bp
from .announce import mail_enabled, request_confirmation
from .forms import SubscribeForm, SubscriberForm

SUBSCRIBES_PER_MINUTE = 5  # per client address, as for comments
ADMIN_LIST_LIMIT = 1000  # rows shown on the page; the CSV export has everyone


def tokens() -> Tokens:
    return Tokens(current_app.config["SECRET_KEY"])


@bp.route("/subscribe", methods=["GET", "POST"])
def subscribe() -> ResponseReturnValue:
    if not mail_enabled():
        abort(404)
    form = SubscribeForm()
    if request.method == "GET":
        return render_template("newsletter/subscribe.html", form=form)
    if not get_data().limits.hit(
        "subscribe", request.remote_addr or "unknown", SUBSCRIBES_PER_MINUTE
    ):
        abort(429, "Too many subscription requests from your address. Please wait a minute.")
    if not form.validate():
        return render_template("newsletter/subscribe.html", form=form), 400
    if not form.website.data:  # a bot filled the honeypot: same answer, nothing stored
        request_confirmation(form.email.data)
    # The same answer whoever asks: it never tells whether an address is on the list.
    return render_template("newsletter/check_inbox.html", email=form.email.data)


def _valid(address: str | None) -> str:
    if address is None:
        abort(400, "This link is not valid or has expired. You can subscribe again.")
    return address


@bp.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> ResponseReturnValue:
    """GET shows a button, POST confirms: mail scanners that open links confirm nothing."""
    address = _valid(tokens().confirmed_address(token))
    if request.method == "GET":
        return render_template("newsletter/confirm.html", email=address)
    confirmed = get_data().subscribers.confirm(address, time.time())
    if not confirmed and not get_data().subscribers.is_confirmed(address):
        abort(400, "This subscription can no longer be confirmed. You can subscribe again.")
    return render_template("newsletter/confirmed.html", email=address)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """GET changes nothing (link checkers open it); the "Unsubscribe" button, or a mail
    client's RFC 8058 one-click POST (no cookies, no CSRF token), does it."""
    address = _valid(tokens().unsubscribe_address(token))
    if request.method == "GET":
        return render_template("newsletter/unsubscribe.html", email=address)
    get_data().subscribers.unsubscribe(address, time.time())
    return render_template("newsletter/unsubscribed.html", email=address)


@bp.route("/admin/subscribers")
@login_required
def admin() -> ResponseReturnValue:
    data = get_data()
    everyone = sorted(data.subscribers.each(), key=lambda s: s.created_at, reverse=True)
    return render_template(
        "newsletter/admin.html",
        counts=data.subscribers.counts(),
        subscribers=everyone[:ADMIN_LIST_LIMIT],
        total=len(everyone),
        limit=ADMIN_LIST_LIMIT,
        form=SubscriberForm(),
    )


@bp.route("/admin/subscribers/remove", methods=["POST"])
@login_required
def remove() -> ResponseReturnValue:
    form = SubscriberForm()
    if form.validate_on_submit() and get_data().subscribers.remove(form.email.data):
        flash(f"Removed {form.email.data}.")
    return redirect(url_for("newsletter.admin"))


CSV_COLUMNS = ["email", "status", "subscribed_at", "status_since", "hard_bounces"]


def _csv_cell(value: str) -> str:
    """Spreadsheets run cells that start like a formula; a quote makes them text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.route("/admin/subscribers.csv")
@login_required
def export_csv() -> ResponseReturnValue:
    store = get_data().subscribers  # the generator runs after the view has returned

    def rows() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for s in store.each():
            writer.writerow(
                [
                    _csv_cell(s.email),
                    s.status,
                    to_datetime(s.created_at).isoformat(),
                    to_datetime(s.updated_at).isoformat(),
                    s.bounces,
                ]
            )
            if out.tell() > 64 * 1024:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return Response(
        rows(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )
