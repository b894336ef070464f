"""The app's version, from the installed distribution's metadata (pyproject.toml's)."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "redis-blog"


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        # The PaaS installs only the hashed lock (requirements.txt), which cannot hold the
        # project itself: there the checkout's pyproject.toml is the same source.
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        with pyproject.open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])


__version__ = _version()
