"""Image cleaning speed, and the time from upload answer to a clean, visible image.

    .venv/bin/python bench/images.py [--runs 15] [--uploads 20]

1. On a 12-megapixel JPEG with full metadata (Exif with GPS and a thumbnail, XMP, IPTC,
   a comment, an ICC profile, trailing bytes), in one run: the job's lossless cleaning,
   Pillow decode plus re-encode, and `jpegtran -copy icc` when installed; milliseconds
   and ratios to the cleaning. Goals: cleaning at most 20 ms and at least 5 times
   faster than Pillow's re-encode.
2. With a real `rq worker` idle on a private redis-server: upload a photo through the
   WSGI app, then poll its status until ready; median of N uploads (goal: under 1 s).
3. A burst: `--burst` uploads (default 200) posted back to back through the WSGI app
   while one worker, then two, clean them: images per second from the first upload to
   the last `ready`, the time that takes, and the two-worker / one-worker ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from flask.testing import FlaskClient
from PIL import Image

from blog.data import DataLayer
from devtools.redis_server import RedisServer
from processing.images import clean_image

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "tests" / "fixtures" / "exif-samples" / "gps" / "DSCN0010.jpg"


def twelve_megapixel_jpeg() -> bytes:
    """A photo-like 4000x3000 JPEG carrying every kind of metadata the cleaner drops."""
    base = Image.effect_noise((1000, 750), 30).convert("RGB").resize((4000, 3000))
    noise = Image.effect_noise((4000, 3000), 12).convert("RGB")
    picture = Image.blend(base, noise, 0.3)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Camera", "Model X", "Editor 1.0"
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    exif.get_ifd(0x8769).update({0x9003: "2026:11:27 10:00:00", 0xA431: "SN123456"})
    icc = ROOT / "tests" / "fixtures" / "exif-samples" / "Canon_40D.jpg"
    icc_profile = Image.open(icc).info.get("icc_profile")
    out = io.BytesIO()
    picture.save(
        out, "JPEG", quality=90, exif=exif, icc_profile=icc_profile, comment=b"taken at home"
    )
    data = out.getvalue()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + b"<x:xmpmeta>" + b"x" * 20000 + b"</x:xmpmeta>"
    iptc = b"Photoshop 3.0\x00" + b"8BIM\x04\x04" + b"\x00" * 3000
    extra = b"".join(
        marker + (len(body) + 2).to_bytes(2, "big") + body
        for marker, body in ((b"\xff\xe1", xmp), (b"\xff\xed", iptc))
    )
    return data[:2] + extra + data[2:] + b"trailing bytes of a second picture" * 1000


def median_ms(action, runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def pillow_reencode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        image.save(io.BytesIO(), "JPEG", quality=90)


def jpegtran(path: Path) -> None:
    subprocess.run(["jpegtran", "-copy", "icc", "-outfile", os.devnull, str(path)], check=True)


def measure_cleaning(runs: int) -> list[tuple[str, float]]:
    data = twelve_megapixel_jpeg()
    print(f"input: 4000x3000 JPEG, {len(data) / 1e6:.1f} MB", file=sys.stderr)
    rows = [
        ("clean_image (this project, lossless)", median_ms(lambda: clean_image(data), runs)),
        ("Pillow decode + re-encode (lossy)", median_ms(lambda: pillow_reencode(data), runs)),
    ]
    if shutil.which("jpegtran"):
        with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
            f.write(data)
            f.flush()
            rows.append(
                ("jpegtran -copy icc (process)", median_ms(lambda: jpegtran(Path(f.name)), runs))
            )
    else:
        print("jpegtran not installed (apt-get install libjpeg-turbo-progs)", file=sys.stderr)
    return rows


@contextlib.contextmanager
def blog_with_workers(workers: int) -> Iterator[tuple[FlaskClient, DataLayer]]:
    """A private redis-server, `workers` idle `rq worker` processes on the images queue
    and a logged-in test client of the app."""
    from blog import create_app

    work = Path(tempfile.mkdtemp())
    server = RedisServer(work / "redis", persistent=False).start()
    env = {**os.environ, "REDIS_URL": server.url, "MEDIA_ROOT": str(work / "media")}
    command = [str(Path(sys.executable).parent / "rq"), "worker", "--url", server.url]
    command += ["--worker-class", "jobs.worker.BlogWorker", "images"]
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    try:
        app = create_app(
            {
                "APP_ENV": "testing",
                "REDIS_URL": server.url,
                "SECRET_KEY": "bench",
                "MEDIA_ROOT": str(work / "media"),
                "WTF_CSRF_ENABLED": False,
            }
        )
        data = app.extensions["blog_data"]
        data.users.create("bench", "bench-password")
        client = app.test_client()
        client.post("/login", data={"username": "bench", "password": "bench-password"})
        wait_for_workers(server.url, workers)
        yield client, data
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def wait_for_workers(url: str, workers: int) -> None:
    from rq import Worker

    connection = redis.Redis.from_url(url)
    deadline = time.monotonic() + 60
    while Worker.count(connection=connection) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers did not start within 60 s")
        time.sleep(0.1)
    time.sleep(1)  # registered, then idle on the queue


def measure_upload_to_ready(uploads: int) -> list[float]:
    """Seconds from the upload's 202 answer to status `ready`, with an idle worker."""
    photo = PHOTO.read_bytes()
    with blog_with_workers(1) as (client, _):
        return [one_upload(client, photo) for _ in range(uploads)]


def measure_burst(uploads: int, workers: int) -> dict[str, float]:
    """`uploads` photos posted back to back, `workers` workers cleaning them meanwhile:
    seconds from the first upload to the last `ready`, and images per second."""
    photo = PHOTO.read_bytes()
    with blog_with_workers(workers) as (client, data):
        started = time.perf_counter()
        ids = [upload(client, photo)["id"] for _ in range(uploads)]
        posted = time.perf_counter() - started
        while statuses(data, ids).count("ready") < uploads:
            if "failed" in statuses(data, ids):
                raise RuntimeError("an upload failed")
            if time.perf_counter() - started > 600:
                raise RuntimeError("the burst was not cleaned within 600 s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "per_second": uploads / elapsed, "posted": posted}


def statuses(data: DataLayer, ids: list[str]) -> list[str]:
    pipe = data.redis.pipeline(transaction=False)
    for image_id in ids:
        pipe.hget(data.keys.image(image_id), "status")
    return pipe.execute()


def upload(client: FlaskClient, photo: bytes) -> dict:
    answer = client.post(
        "/uploads",
        data={"image": (io.BytesIO(photo), "photo.jpg")},
        content_type="multipart/form-data",
    )
    if answer.status_code != 202:
        raise RuntimeError(f"upload answered {answer.status_code}: {answer.get_data(as_text=True)}")
    return answer.get_json()


def one_upload(client, photo: bytes) -> float:
    status_url = upload(client, photo)["status_url"]
    accepted = time.perf_counter()
    while client.get(status_url).get_json()["status"] == "processing":
        time.sleep(0.005)
        if time.perf_counter() - accepted > 30:
            raise RuntimeError("the worker did not finish within 30 s")
    return time.perf_counter() - accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--burst", type=int, default=200, help="uploads in the burst (0: skip)")
    args = parser.parse_args()
    if not 0 <= args.burst <= 5000:
        parser.error("--burst must be between 0 and 5000")
    rows = measure_cleaning(args.runs)
    baseline = rows[0][1]
    print(f"\nImage cleaning, 12-megapixel JPEG, median of {args.runs} ({os.cpu_count()} cores)\n")
    print("| method | ms | ratio to clean_image |")
    print("|---|---:|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / baseline:.1f}x |")
    reencode = rows[1][1]
    print(
        f"\ngoal <= 20 ms: {'met' if baseline <= 20 else 'NOT met'}; "
        f"goal >= 5x faster than Pillow: {'met' if reencode / baseline >= 5 else 'NOT met'} "
        f"({reencode / baseline:.1f}x)"
    )
    latencies = sorted(measure_upload_to_ready(args.uploads))
    median = statistics.median(latencies)
    print(
        f"\nUpload answer to `ready` with an idle worker ({args.uploads} uploads of a "
        f"640x480 camera JPEG)\n"
    )
    print("| median s | min s | max s | goal < 1 s |")
    print("|---:|---:|---:|---|")
    print(
        f"| {median:.3f} | {latencies[0]:.3f} | {latencies[-1]:.3f} | "
        f"{'met' if median < 1 else 'NOT met'} |"
    )
    if args.burst:
        report_burst(args.burst, {n: measure_burst(args.burst, n) for n in (1, 2)})


def report_burst(uploads: int, runs: dict[int, dict[str, float]]) -> None:
    print(f"\nA burst of {uploads} uploads (640x480 camera JPEG), posted back to back\n")
    print("| workers | uploads posted in s | last ready after s | images/s | ratio to 1 worker |")
    print("|---:|---:|---:|---:|---:|")
    for workers, run in runs.items():
        print(
            f"| {workers} | {run['posted']:.1f} | {run['seconds']:.1f} | "
            f"{run['per_second']:.1f} | {run['per_second'] / runs[1]['per_second']:.2f} |"
        )


if __name__ == "__main__":
    main()
