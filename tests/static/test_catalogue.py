"""Runs the message catalogue's own tests (``catalogue.test.mjs``) under node's test runner, so
the README's ``python -m pytest`` covers them; no browser needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import missing_service

HERE = Path(__file__).resolve().parent


def test_the_message_catalogue_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        missing_service("Node.js", "`node` is not on PATH (apt-get install nodejs)")
    result = subprocess.run(
        # static/ is plain ES modules without a package.json of its own: node says so once.
        [
            str(node),
            "--disable-warning=MODULE_TYPELESS_PACKAGE_JSON",
            "--test",
            str(HERE / "catalogue.test.mjs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 6" in result.stdout, result.stdout[-2000:]
