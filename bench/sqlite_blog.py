"""The baseline for bench/load.py: Flask's tutorial blog ("Flaskr"), on SQLite.

A faithful equivalent of https://flask.palletsprojects.com/en/stable/tutorial/ as a
competent SQLite blog would run it: the tutorial's schema, queries, session login,
templates (base + page, autoescaped) and connection per request (`get_db` / `close_db`),
plus what it needs to be compared page for page:
- an index on `post.created` and a paginated index page of 10, newest first
  (`ORDER BY created DESC LIMIT 11 OFFSET ?`, 11 to know whether there is a next page);
- a single-post page (`/post/<id>`: the tutorial's `get_post` primary-key SELECT and join);
- its create form (`/create`, login required, INSERT and commit, redirect to the index);
- WAL journal mode (readers do not wait for a writer), set once when seeding.

Served by the same gunicorn as the blog (bench/load_app.py mounts it at /sqlite).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from sqlite3 import PARSE_DECLTYPES

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from jinja2 import DictLoader
from werkzeug.security import check_password_hash, generate_password_hash

PER_PAGE = 10
SCHEMA = """
DROP TABLE IF EXISTS user;
DROP TABLE IF EXISTS post;
CREATE TABLE user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT UNIQUE NOT NULL,
  password TEXT NOT NULL
);
CREATE TABLE post (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  author_id INTEGER NOT NULL,
  created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  FOREIGN KEY (author_id) REFERENCES user (id)
);
CREATE INDEX post_created ON post (created);
"""
POST_QUERY = (
    "SELECT p.id, title, body, created, author_id, username"
    " FROM post p JOIN user u ON p.author_id = u.id"
)

# The tutorial's templates (flaskr/templates/), with pagination and a post page added.
TEMPLATES = {
    "base.html": """<!doctype html>
<title>{% block title %}{% endblock %} - Flaskr</title>
<nav>
  <h1>Flaskr</h1>
  <ul>
    {% if g.user %}
      <li><span>{{ g.user['username'] }}</span>
      <li><a href="{{ url_for('logout') }}">Log Out</a>
    {% else %}
      <li><a href="{{ url_for('login') }}">Log In</a>
    {% endif %}
  </ul>
</nav>
<section class="content">
  <header>
    {% block header %}{% endblock %}
  </header>
  {% for message in get_flashed_messages() %}
    <div class="flash">{{ message }}</div>
  {% endfor %}
  {% block content %}{% endblock %}
</section>
""",
    "post.html": """<article class="post">
  <header>
    <div>
      <h1><a href="{{ url_for('show', id=post['id']) }}">{{ post['title'] }}</a></h1>
      <div class="about">
        by {{ post['username'] }} on {{ post['created'].strftime('%Y-%m-%d') }}
      </div>
    </div>
    {% if g.user['id'] == post['author_id'] %}
      <a class="action" href="#">Edit</a>
    {% endif %}
  </header>
  <p class="body">{{ post['body'] }}</p>
</article>
""",
    "index.html": """{% extends 'base.html' %}
{% block header %}
  <h1>{% block title %}Posts{% endblock %}</h1>
  {% if g.user %}
    <a class="action" href="{{ url_for('create') }}">New</a>
  {% endif %}
{% endblock %}
{% block content %}
  {% for post in posts %}
    {% include 'post.html' %}
    {% if not loop.last %}
      <hr>
    {% endif %}
  {% endfor %}
  {% if page > 1 %}<a href="{{ url_for('index', page=page - 1) }}">Newer</a>{% endif %}
  {% if has_next %}<a href="{{ url_for('index', page=page + 1) }}">Older</a>{% endif %}
{% endblock %}
""",
    "show.html": """{% extends 'base.html' %}
{% block header %}<h1>{% block title %}{{ post['title'] }}{% endblock %}</h1>{% endblock %}
{% block content %}{% include 'post.html' %}{% endblock %}
""",
    "create.html": """{% extends 'base.html' %}
{% block header %}
  <h1>{% block title %}New Post{% endblock %}</h1>
{% endblock %}
{% block content %}
  <form method="post">
    <label for="title">Title</label>
    <input name="title" id="title" value="{{ request.form['title'] }}" required>
    <label for="body">Body</label>
    <textarea name="body" id="body">{{ request.form['body'] }}</textarea>
    <input type="submit" value="Save">
  </form>
{% endblock %}
""",
    "login.html": """{% extends 'base.html' %}
{% block header %}<h1>{% block title %}Log In{% endblock %}</h1>{% endblock %}
{% block content %}
  <form method="post">
    <label for="username">Username</label>
    <input name="username" id="username" required>
    <label for="password">Password</label>
    <input type="password" name="password" id="password" required>
    <input type="submit" value="Log In">
  </form>
{% endblock %}
""",
}


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"], detect_types=PARSE_DECLTYPES)
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(e=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def create_app(database: str, secret_key: str) -> Flask:
    app = Flask("flaskr")
    app.config.from_mapping(SECRET_KEY=secret_key, DATABASE=database)
    app.jinja_loader = DictLoader(TEMPLATES)
    app.teardown_appcontext(close_db)
    app.before_request(load_logged_in_user)
    blog_routes(app)
    auth_routes(app)
    return app


def load_logged_in_user() -> None:
    user_id = session.get("user_id")
    g.user = (
        None
        if user_id is None
        else get_db().execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()
    )


def blog_routes(app: Flask) -> None:
    """The tutorial's blog blueprint: index (paginated here), a post page, create."""

    @app.route("/")
    def index():
        page = request.args.get("page", 1, type=int)
        if page < 1:
            abort(404)
        posts = (
            get_db()
            .execute(
                POST_QUERY + " ORDER BY created DESC LIMIT ? OFFSET ?",
                (PER_PAGE + 1, (page - 1) * PER_PAGE),
            )
            .fetchall()
        )
        return render_template(
            "index.html", posts=posts[:PER_PAGE], page=page, has_next=len(posts) > PER_PAGE
        )

    @app.route("/post/<int:id>")
    def show(id: int):
        post = get_db().execute(POST_QUERY + " WHERE p.id = ?", (id,)).fetchone()
        if post is None:
            abort(404, f"Post id {id} doesn't exist.")
        return render_template("show.html", post=post)

    @app.route("/create", methods=("GET", "POST"))
    def create():
        if g.user is None:
            return redirect(url_for("login"))
        if request.method == "POST":
            title, body = request.form["title"], request.form["body"]
            if not title:
                flash("Title is required.")
            else:
                db = get_db()
                db.execute(
                    "INSERT INTO post (title, body, author_id) VALUES (?, ?, ?)",
                    (title, body, g.user["id"]),
                )
                db.commit()
                return redirect(url_for("index"))
        return render_template("create.html")


def auth_routes(app: Flask) -> None:
    """The tutorial's auth blueprint: log in and out (authors exist from the seed)."""

    @app.route("/auth/login", methods=("GET", "POST"))
    def login():
        if request.method == "POST":
            user = (
                get_db()
                .execute("SELECT * FROM user WHERE username = ?", (request.form["username"],))
                .fetchone()
            )
            if user is None or not check_password_hash(user["password"], request.form["password"]):
                flash("Incorrect username or password.")
            else:
                session.clear()
                session["user_id"] = user["id"]
                return redirect(url_for("index"))
        return render_template("login.html")

    @app.route("/auth/logout")
    def logout():
        session.clear()
        return redirect(url_for("index"))


def seed(database: Path, posts: int, body: str, username: str, password: str) -> None:
    """The schema, one author and `posts` posts a minute apart (oldest first)."""
    db = sqlite3.connect(database)
    db.executescript(SCHEMA)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "INSERT INTO user (username, password) VALUES (?, ?)",
        (username, generate_password_hash(password)),
    )
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=posts)
    rows = (
        (1, (start + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"), f"Post number {i}", body)
        for i in range(posts)
    )
    db.executemany("INSERT INTO post (author_id, created, title, body) VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
