"""The project installs itself (`make install` runs `pip install -e .`): its version comes
from the installed metadata and /healthz reports it."""

from __future__ import annotations

import tomllib
from importlib.metadata import version

from tests.helpers import ROOT


def test_healthz_reports_the_installed_version(client, auth):
    with (ROOT / "pyproject.toml").open("rb") as f:
        declared = tomllib.load(f)["project"]["version"]
    assert version("redis-blog") == declared
    assert "version" not in client.get("/healthz").get_json()  # a detail (docs/security.md)
    auth.login()
    assert client.get("/healthz").get_json()["version"] == declared
