"""Decompression bombs (issue 9): any accepted upload keeps the work horse under 300 MB.

The jobs run in a real `rq worker --burst` process started by a tiny parent whose
RUSAGE_CHILDREN peak covers the worker and every work horse it forked and reaped: the
figure is the real job's resident memory, not an estimate.
"""

from __future__ import annotations

import io
import subprocess
import sys

from PIL import Image

from processing.images import DEFAULT_MAX_PIXELS
from tests.helpers import ROOT, RQ

LIMIT_MB = 300
#: Runs the command, then prints the largest resident set of any descendant it waited for.
PEAK_OF_CHILDREN = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def upload(client, data: bytes, name: str) -> dict:
    response = client.post(
        "/uploads", data={"image": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def run_worker_measuring_peak(env: dict[str, str]) -> float:
    """Work through the images queue in a real worker; return the peak RSS in MB."""
    command = [RQ, "worker", "--burst", "--worker-class", "jobs.worker.BlogWorker"]
    result = subprocess.run(
        [sys.executable, "-c", PEAK_OF_CHILDREN, *command, "--url", env["REDIS_URL"], "images"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    peak_kb = int(result.stdout.split("PEAK_KB")[-1])
    return peak_kb / 1024


def test_issue_bomb_is_refused_and_largest_accepted_images_stay_under_300_mb(
    client, auth, worker_env
):
    auth.login()
    side = int(DEFAULT_MAX_PIXELS**0.5)  # the largest square the default limit accepts
    webp_side = int((DEFAULT_MAX_PIXELS // 4) ** 0.5)  # WebP counts four times (docs)
    bomb = encoded(Image.new("RGBA", (9400, 9400)), "PNG")
    assert len(bomb) < 400_000  # the issue's 335 KB all-zero RGBA PNG
    accepted = {
        "rgba.png": encoded(Image.new("RGBA", (side, side)), "PNG"),
        "grey16.png": encoded(Image.new("I;16", (side, side)), "PNG"),
        "palette.gif": encoded(Image.new("P", (side, side)), "GIF", transparency=0),
        "cmyk.jpg": encoded(Image.new("CMYK", (side, side)), "JPEG"),
        "rgba.webp": encoded(Image.new("RGBA", (webp_side, webp_side)), "WEBP", lossless=True),
    }
    refused = upload(client, bomb, "bomb.png")
    uploads = {name: upload(client, data, name) for name, data in accepted.items()}

    peak_mb = run_worker_measuring_peak(worker_env)
    print(f"work horse peak: {peak_mb:.0f} MB")

    failed = client.get(refused["status_url"]).get_json()
    assert failed["status"] == "failed"
    assert "too large" in failed["error"] and "megapixels" in failed["error"]
    for name, info in uploads.items():
        status = client.get(info["status_url"]).get_json()
        assert status["status"] == "ready", (name, status)
    assert peak_mb < LIMIT_MB, f"work horse peaked at {peak_mb:.0f} MB"
