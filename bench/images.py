"""Image cleaning speed, and the time from upload answer to a clean, visible image.

    .venv/bin/python bench/images.py [--runs 15] [--uploads 20]

1. On a 12-megapixel JPEG with full metadata (Exif with GPS and a thumbnail, XMP, IPTC,
   a comment, an ICC profile, trailing bytes), in one run: the job's lossless cleaning,
   Pillow decode plus re-encode, and `jpegtran -copy icc` when installed; milliseconds
   and ratios to the cleaning. Goals: cleaning at most 20 ms and at least 5 times
   faster than Pillow's re-encode.
2. With a real `rq worker` idle on a private redis-server: upload a photo through the
   WSGI app, then poll its status until ready; median of N uploads (goal: under 1 s).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

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


def measure_upload_to_ready(uploads: int) -> list[float]:
    """Seconds from the upload's 202 answer to status `ready`, with an idle worker."""
    from blog import create_app

    work = Path(tempfile.mkdtemp())
    server = RedisServer(work / "redis", persistent=False).start()
    env = {
        **os.environ,
        "REDIS_URL": server.url,
        "MEDIA_ROOT": str(work / "media"),
    }
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "rq"),
            "worker",
            "--url",
            server.url,
            "--worker-class",
            "jobs.worker.BlogWorker",
            "images",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
        app.extensions["blog_data"].users.create("bench", "bench-password")
        client = app.test_client()
        client.post("/login", data={"username": "bench", "password": "bench-password"})
        photo = PHOTO.read_bytes()
        time.sleep(2)  # let the worker start and go idle
        return [one_upload(client, photo) for _ in range(uploads)]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def one_upload(client, photo: bytes) -> float:
    answer = client.post(
        "/uploads",
        data={"image": (io.BytesIO(photo), "photo.jpg")},
        content_type="multipart/form-data",
    )
    accepted = time.perf_counter()
    status_url = answer.get_json()["status_url"]
    while client.get(status_url).get_json()["status"] == "processing":
        time.sleep(0.005)
        if time.perf_counter() - accepted > 30:
            raise RuntimeError("the worker did not finish within 30 s")
    return time.perf_counter() - accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
