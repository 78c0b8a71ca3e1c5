"""Runs the browser client's pure modules' own tests (``*.test.mjs`` here: the message catalogue,
typed dates and times, the self-test's sentences, the booth-health panel's figures) under node's
test runner, so the README's ``python -m pytest`` covers them; no browser needed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import missing_service

HERE = Path(__file__).resolve().parent


def test_static_modules_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        missing_service("Node.js", "`node` is not on PATH (apt-get install nodejs)")
    result = subprocess.run(
        # static/ is plain ES modules without a package.json of its own: node says so once.
        [
            str(node),
            "--disable-warning=MODULE_TYPELESS_PACKAGE_JSON",
            "--test",
            *sorted(str(path) for path in HERE.glob("*.test.mjs")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.M)
    assert "# fail 0" in result.stdout and passed and int(passed[1]) > 0, result.stdout[-2000:]
