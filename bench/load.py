"""Throughput under load: gunicorn serving the blog, driven by locust (headless).

    .venv/bin/python bench/load.py [--posts 10000] [--seconds 20] [--users 16] [--workers 4]
        [--popularity zipf|uniform] [--warmup 10] [--redis tcp|unix]

Starts a private redis-server, loads --posts posts (2 tags each from a pool of 50; every
10th post with 3 comments) through the data layer, and the same posts (same titles, same
body text, a minute apart) into Flask's tutorial blog on SQLite (bench/sqlite_blog.py).
Then runs gunicorn on bench/load_app.py: the real blog with its page cache, the same blog
uncached (/uncached/), the tutorial blog (/sqlite/) and a trivial Flask route
("ok" at /trivial/), all in the same workers. Locust then runs one scenario at a time,
each for --seconds with --users closed-loop users (no think time), after --warmup
seconds of the same traffic that are not measured (caches fill as on a server that has
been up a while; a cold start is --warmup 0): the trivial route;
the SQLite blog's index page (page 1, indexed) before and after the blog's home and tag
(page 1 of a random tag) pages, uncached (-off) and cached; the SQLite blog's post page
(--popularity zipf, the default: post i of the newest first gets 1/i of the top
post's views, the same posts for both blogs; uniform: any post as likely) before and
after the blog's, uncached and cached; creating posts through the SQLite blog's form
before and after the blog's (logged in once before the run; the POST is measured);
then home, post and tag again while
--commenters more users post comments at --comment-rate a second in total (each
comment is a POST and the redirect back to the post, as a browser does); then the
trivial route again, so the ratios are to the mean of two trivial runs and their gap
shows drift.

Prints, as a markdown table: requests/s, p50 and p99 (ms), errors and the ratio to the
trivial route's requests/s; the CPU the server, Redis and locust used; whether every
comment answered with a redirect is stored exactly once; and the goals: 0 errors, no lost
or duplicated comments, home page >= 0.5 x the trivial route, and each page as a ratio
to the SQLite blog's (GOALS: post page >= 1.0 uncached and 1.5 cached; home and tag
pages >= 1.0 and 1.5 of its index page; creating a post >= 1.0).

The server runs with APP_ENV=development (production session cookies are Secure-only and
this runs over plain http) and COMMENTS_PER_MINUTE=1000 (the largest value the config
accepts; all locust users share the address 127.0.0.1) and PAGE_CACHE_DIR in a directory
of its own on /dev/shm (the workers share the pages they render, as by default; removed
at the end). Locust runs on the same machine
as the server, so the load generator takes CPU from the server: the req/s are a floor.
Locust's CPU per request is about the same for every route, which flatters the ratios:
with the load generated elsewhere the trivial route would gain more than the blog pages.
"""

from __future__ import annotations

import argparse
import csv
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import sqlite_blog  # bench/ is the script's own directory
from seed import BODY, TAGS, seed

from blog.data import DataLayer, connect
from devtools.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent

PREFIX = "blog:"
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
COMMENT_TARGETS = 20  # the newest posts (those on the home page and just past it)
COMMENTS_PER_MINUTE = 1000  # the config's maximum
READ_PAGES = (
    "trivial",
    "home",
    "post",
    "tag",
    "home-off",
    "post-off",
    "tag-off",
    "sqlite-home",
    "sqlite-post",
)
WRITE_PAGES = ("create", "sqlite-create")
PAGES = READ_PAGES + WRITE_PAGES
# Goals: (blog scenario, SQLite scenario, least ratio of their req/s).
GOALS = [
    ("post-off", "sqlite-post", 1.0),
    ("post", "sqlite-post", 1.5),
    ("home-off", "sqlite-home", 1.0),
    ("home", "sqlite-home", 1.5),
    ("tag-off", "sqlite-home", 1.0),
    ("tag", "sqlite-home", 1.5),
    ("create", "sqlite-create", 1.0),
]
PASSWORD = secrets.token_urlsafe(16)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# The trivial route runs first and last: the ratio is to the mean of the two, and their
# difference shows how much the machine drifted during the run.
# Each SQLite baseline runs before and after the blog's scenarios it is compared with
# (the goals use the mean of its runs), so the machine's drift meanwhile shows and
# cancels out, as with the trivial route.
SCENARIOS = (
    "trivial,sqlite-home,home-off,tag-off,home,tag,sqlite-home,"
    "sqlite-post,post-off,post,sqlite-post,sqlite-create,create,sqlite-create,"
    "home+c,post+c,tag+c,trivial"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- seeding -------------------------------------------------------------------------


def comment_targets(data: DataLayer) -> list[tuple[int, str]]:
    return [(post.id, post.slug) for post in data.posts.newest(COMMENT_TARGETS)]


# ---- processes -----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, or 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop_group(process: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM the process group a child leads, then SIGKILL it after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def start_gunicorn(workers: int, env: dict, log: Path, timeout: float = 30.0):
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bench.load_app:app",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
        "--chdir",
        str(ROOT),
    ]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    host = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(host + "/trivial/", timeout=2) as response:
                if response.status == 200 and len(children(process.pid)) >= workers:
                    return process, host
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_group(process)
            raise RuntimeError(f"gunicorn did not start; see {log}")
        time.sleep(0.2)


def warm_up(host: str, paths: list[str], rounds: int) -> None:
    """Every worker compiles its templates before the first measured request."""
    for _ in range(rounds):
        for path in paths:
            with urllib.request.urlopen(host + path, timeout=10) as response:
                if response.status != 200:
                    raise RuntimeError(f"warm-up: {path} answered {response.status}")
                response.read()


def logged_in(host: str, login_path: str, form: dict, csrf_page: str | None) -> dict:
    """Log the author in once (scrypt is slow on purpose: not part of any scenario); the
    session cookie (and the form's CSRF token) for locust's Author users."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    if csrf_page:
        page = opener.open(host + login_path, timeout=30).read().decode()
        form = {**form, "csrf_token": CSRF.search(page).group(1)}
    opener.open(host + login_path, urllib.parse.urlencode(form).encode(), timeout=60).read()
    token = ""
    if csrf_page:
        token = CSRF.search(opener.open(host + csrf_page, timeout=30).read().decode()).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return {"cookie": cookie, "token": token}


# ---- one scenario --------------------------------------------------------------------


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS, sum(values[:8]) / CLOCK_TICKS


def snapshot(gunicorn: subprocess.Popen, redis_pid: int, locust_pid: int) -> dict:
    busy, total = machine_busy()
    return {
        "time": time.monotonic(),
        "busy": busy,
        "total": total,
        "server": sum(map(cpu_seconds, [gunicorn.pid, *children(gunicorn.pid)])),
        "redis": cpu_seconds(redis_pid),
        "locust": cpu_seconds(locust_pid),
    }


def run_locust(
    name: str,
    page: str,
    args,
    host: str,
    env: dict,
    work: Path,
    gunicorn: subprocess.Popen,
    redis_pid: int,
    comments: bool,
    seconds: int | None = None,
) -> dict:
    seconds = seconds or args.seconds
    prefix = work / name.replace(" ", "_").replace("+", "and")
    stats_file = Path(f"{prefix}_stats.csv")
    stats_file.unlink(missing_ok=True)  # a warm-up's file from before
    users = args.users + (args.commenters if comments else 0)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--stop-timeout",
        "5",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "Author" if page in WRITE_PAGES else "Reader",
    ]
    if comments:
        command.append("Commenter")
    log_path = work / f"{prefix.name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command,
        env={**env, "LOAD_PAGE": page},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # CPU is counted from locust's first statistics file (written once the users start,
    # so its own start-up is left out) to its last poll before it exits.
    first = last = None
    deadline = time.monotonic() + seconds + 60
    try:
        while process.poll() is None:
            now = snapshot(gunicorn, redis_pid, process.pid)
            if first is None and stats_file.exists():
                first = now
            elif first is not None and now["locust"]:
                last = now
            if time.monotonic() > deadline:
                raise RuntimeError(f"locust ({name}) ran past its time; see {log_path}")
            time.sleep(0.25)
    finally:
        stop_group(process)
        log.close()
    if not stats_file.exists() or first is None or last is None:
        raise RuntimeError(f"locust ({name}) wrote no statistics; see {log_path}")
    wall = last["time"] - first["time"]
    cpu = {k: (last[k] - first[k]) / wall for k in ("server", "redis", "locust")}
    cores = os.cpu_count() or 1
    machine = (last["busy"] - first["busy"]) / (last["total"] - first["total"]) * cores
    cpu["other"] = max(0.0, machine - cpu["server"] - cpu["redis"] - cpu["locust"])
    with stats_file.open() as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    return {"name": name, "page": page, "comments": comments, "rows": rows, "cpu": cpu}


def figures(row: dict) -> dict:
    return {
        "count": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"] or 0),
        "p99": float(row["99%"] or 0),
    }


# ---- comment integrity ---------------------------------------------------------------


def comment_integrity(
    data: DataLayer, targets: list[tuple[int, str]], marker: str, log: Path
) -> dict:
    posted = Counter(log.read_text().split()) if log.exists() else Counter()
    stored: Counter = Counter()
    for post_id, _ in targets:
        ids = data.redis.zrange(data.keys.post_comments(post_id), 0, -1)
        ids += data.redis.zrange(data.keys.post_pending(post_id), 0, -1)
        for comment in data.comments.load(ids):
            if comment.body.startswith(marker + " "):
                stored[comment.body.split()[-1]] += 1
    return {
        "posted": sum(posted.values()),
        "stored": sum(stored.values()),
        "lost": sum(1 for token in posted if token not in stored),
        "duplicated": sum(n - 1 for n in stored.values() if n > 1),
        # stored although the POST was not answered with a redirect (cut off, or failed late)
        "unconfirmed": sum(1 for token in stored if token not in posted),
    }


# ---- report --------------------------------------------------------------------------


def report(results: list[dict], integrity: dict | None, args, setup: dict) -> bool:
    print(
        f"\nLoad benchmark: {args.posts:,} posts; gunicorn {args.workers} sync workers; "
        f"locust {args.users} users without think time, {args.seconds} s a scenario; "
        f"post pages by {args.popularity} popularity; each reading scenario measured "
        f"after {args.warmup} s of the same traffic (a server in its steady state); "
        f"{os.cpu_count()} cores shared by gunicorn, Redis and locust (the load "
        f"generator runs on the same machine); Redis over {args.redis.upper()}. "
        f"APP_ENV=development, "
        f"COMMENTS_PER_MINUTE={COMMENTS_PER_MINUTE}. Seeded in {setup['seed']:.0f} s.\n"
    )
    trivials = [figures(r["rows"]["trivial"])["rps"] for r in results if r["page"] == "trivial"]
    trivial = sum(trivials) / len(trivials) if trivials else 0.0
    print(
        "| scenario | req/s | p50 ms | p99 ms | errors | ratio to trivial | "
        "CPU cores: gunicorn / redis / locust / other |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    errors = 0
    ratios: dict[str, float] = {}
    for result in results:
        f = figures(result["rows"][result["page"]])
        errors += f["failures"]
        ratio = f["rps"] / trivial if trivial else float("nan")
        ratios[result["name"]] = ratio
        cpu = result["cpu"]
        print(
            f"| {result['name']} | {f['rps']:.0f} | {f['p50']:.0f} | {f['p99']:.0f} | "
            f"{f['failures']} | {ratio:.2f} | {cpu['server']:.2f} / {cpu['redis']:.2f} / "
            f"{cpu['locust']:.2f} / {cpu['other']:.2f} |"
        )
        if result["comments"]:
            names = ("comment POST", "comment redirect GET", "comment form GET")
            rows = [result["rows"][n] for n in names if n in result["rows"]]
            failures = sum(int(r["Failure Count"]) for r in rows)
            errors += failures
            if "comment POST" in result["rows"]:
                c = figures(result["rows"]["comment POST"])
                print(
                    f"| ↳ comment POST | {c['rps']:.1f} | {c['p50']:.0f} | {c['p99']:.0f} | "
                    f"{failures} | | |"
                )
    if len(trivials) > 1:
        print(
            f"\nRatios are to the mean of the trivial runs ({trivial:.0f} req/s); they differ "
            f"by {(max(trivials) - min(trivials)) / trivial:.0%}, the machine's drift in "
            f"the meantime."
        )
    print(
        "\nErrors: non-2xx answers (302 for a comment POST) and connection errors, as "
        "locust counts them; the comment row includes its form and redirect GETs. CPU: "
        "cores busy while the users ran; other = the rest of the machine (other "
        "processes, the kernel)."
    )
    ok = errors == 0
    if integrity is not None:
        i = integrity
        print(
            f"\nComments: {i['posted']} answered with a redirect, {i['stored']} stored; "
            f"lost {i['lost']}, duplicated {i['duplicated']}, stored without a redirect "
            f"answer {i['unconfirmed']}."
        )
        ok = ok and i["lost"] == 0 and i["duplicated"] == 0 and i["posted"] > 0
    home = ratios.get("home")
    print("\nGoals:")
    print(f"- 0 errors: {'met' if errors == 0 else f'NOT met ({errors})'}")
    if integrity is not None:
        met = integrity["lost"] == 0 and integrity["duplicated"] == 0
        print(f"- no lost or duplicated comments: {'met' if met else 'NOT met'}")
    if home is not None:
        print(
            f"- home page >= 0.5 x trivial route: {home:.2f} {'met' if home >= 0.5 else 'NOT met'}"
        )
        ok = ok and home >= 0.5
    runs: dict[str, list[float]] = {}
    for r in results:
        if not r["comments"]:
            runs.setdefault(r["page"], []).append(figures(r["rows"][r["page"]])["rps"])
    rps = {page: sum(values) / len(values) for page, values in runs.items()}
    print("  (req/s: the mean of each scenario's runs)")
    for blog, baseline, least in GOALS:
        if blog in rps and baseline in rps:
            ratio = rps[blog] / rps[baseline]
            print(
                f"- {blog} >= {least} x {baseline}: {ratio:.2f} "
                f"({rps[blog]:.0f} / {rps[baseline]:.0f} req/s) "
                f"{'met' if ratio >= least else 'NOT met'}"
            )
            ok = ok and ratio >= least
    return ok


# ---- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20, help="per scenario")
    parser.add_argument("--users", type=int, default=16, help="reading users")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--commenters", type=int, default=5)
    parser.add_argument(
        "--comment-rate", type=float, default=5.0, help="comments a second, all commenters together"
    )
    parser.add_argument(
        "--scenarios",
        default=SCENARIOS,
        help="comma-separated subset, in order (x+c: x while commenting)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="seconds of each reading scenario's traffic before it is measured (0: none)",
    )
    parser.add_argument(
        "--popularity",
        choices=("zipf", "uniform"),
        default="zipf",
        help="which post pages readers open: a few get most views (zipf) or any (uniform)",
    )
    parser.add_argument(
        "--redis",
        choices=("tcp", "unix"),
        default="tcp",
        help="how the blog reaches its Redis on this machine: TCP on 127.0.0.1 (as a "
        "separate Redis host is reached) or the unix socket (a one-machine deploy)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s.removesuffix("+c") not in PAGES:
            parser.error(f"unknown scenario {s!r}")
    if args.comment_rate * 60 > COMMENTS_PER_MINUTE * 0.9:
        parser.error(
            f"--comment-rate over {COMMENTS_PER_MINUTE * 0.9 / 60:.0f}/s would hit "
            f"the comment rate limit"
        )

    # SIGTERM (a timeout from outside) unwinds through the finally blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    begun = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="blog-load-"))
    # The workers share the pages they render (PAGE_CACHE_DIR): in memory, as "auto"
    # would put them, but removed with the rest of the run.
    shm = Path("/dev/shm")
    shared_pages = Path(tempfile.mkdtemp(prefix="blog-load-", dir=shm)) if shm.is_dir() else None
    redis_server = gunicorn = None
    try:
        redis_server = RedisServer(
            work / "redis", persistent=False, unix_socket=args.redis == "unix"
        ).start()
        started = time.perf_counter()
        seed(redis_server.url, PREFIX, args.posts, timeout=600)
        setup = {"seed": time.perf_counter() - started}
        print(f"loaded {args.posts:,} posts in {setup['seed']:.0f} s", file=sys.stderr)
        data = DataLayer(connect(redis_server.url), PREFIX)
        data.users.create("alice", PASSWORD)  # the seeded posts' author (id 1)
        sqlite_db = work / "flaskr.sqlite"
        sqlite_blog.seed(sqlite_db, args.posts, BODY, "alice", PASSWORD)
        targets = comment_targets(data)
        marker = f"load-{secrets.token_hex(4)}"
        comment_log = work / "comments-posted.txt"
        (work / "media").mkdir()
        env = {
            **os.environ,
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_hex(32),
            "REDIS_URL": redis_server.url,
            "MEDIA_ROOT": str(work / "media"),
            "PAGE_CACHE_DIR": str(shared_pages) if shared_pages else "",
            "COMMENTS_PER_MINUTE": str(COMMENTS_PER_MINUTE),
            "COMMENT_MODERATION": "0",
            "TRUSTED_PROXIES": "0",
            "LOAD_POSTS": str(args.posts),
            "LOAD_POPULARITY": args.popularity,
            "LOAD_TAGS": str(len(TAGS)),
            "LOAD_TARGETS": ",".join(slug for _, slug in targets),
            "LOAD_COMMENT_LOG": str(comment_log),
            "LOAD_MARKER": marker,
            "LOAD_COMMENTERS": str(args.commenters),
            "LOAD_COMMENT_RATE": str(args.comment_rate / args.commenters),
            "LOAD_SQLITE_DB": str(sqlite_db),
            "LOAD_BODY": BODY,
        }
        gunicorn, host = start_gunicorn(args.workers, env, work / "gunicorn.log")
        print(f"gunicorn {args.workers} workers on {host}", file=sys.stderr)
        warm_up(
            host,
            [
                "/trivial/",
                "/",
                f"/posts/{targets[0][1]}",
                "/posts/post-number-1",
                f"/tags/{TAGS[0]}",
                "/uncached/",
                "/uncached/posts/post-number-1",
                f"/uncached/tags/{TAGS[0]}",
                "/sqlite/",
                "/sqlite/post/2",
            ],
            rounds=10 * args.workers,
        )
        author = logged_in(
            host, "/login", {"username": "alice", "password": PASSWORD}, "/posts/new"
        )
        flaskr = logged_in(
            host, "/sqlite/auth/login", {"username": "alice", "password": PASSWORD}, None
        )
        env["LOAD_BLOG_COOKIE"], env["LOAD_BLOG_TOKEN"] = author["cookie"], author["token"]
        env["LOAD_SQLITE_COOKIE"] = flaskr["cookie"]
        results = []
        for scenario in scenarios:
            page = scenario.removesuffix("+c")
            comments = scenario.endswith("+c")
            name = f"{page} + comments" if comments else page
            if any(r["name"] == name for r in results):
                name += f" (run {sum(r['page'] == page for r in results) + 1})"
            if args.warmup and page in READ_PAGES:
                print(f"warming {name} up for {args.warmup} s", file=sys.stderr)
                run_locust(
                    "warm-up",
                    page,
                    args,
                    host,
                    env,
                    work,
                    gunicorn,
                    redis_server.process.pid,
                    comments,
                    seconds=args.warmup,
                )
            print(f"running {name} for {args.seconds} s", file=sys.stderr)
            results.append(
                run_locust(
                    name, page, args, host, env, work, gunicorn, redis_server.process.pid, comments
                )
            )
        integrity = None
        if any(r["comments"] for r in results):
            integrity = comment_integrity(data, targets, marker, comment_log)
        ok = report(results, integrity, args, setup)
        print(
            f"\nCommand: .venv/bin/python bench/load.py --posts {args.posts} --seconds "
            f"{args.seconds} --users {args.users} --workers {args.workers} --commenters "
            f"{args.commenters} --comment-rate {args.comment_rate:g} "
            f"--popularity {args.popularity} --warmup {args.warmup}"
            + (f" --scenarios {args.scenarios}" if args.scenarios != SCENARIOS else "")
        )
        print(f"Total run time {time.monotonic() - begun:.0f} s.")
        return 0 if ok else 1
    finally:
        stop_group(gunicorn)
        if redis_server is not None:
            redis_server.stop()
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        if shared_pages is not None:
            shutil.rmtree(shared_pages, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
