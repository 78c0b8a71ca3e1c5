"""Runs the media tests (``tests/media``) inside a network namespace that has only loopback.

Real WebRTC media must never leave loopback in a test (docs/testing.md): Chromium on the host
network would gather every interface's addresses. So this test starts a second pytest under
``unshare -n``, brings ``lo`` up, and runs ``tests/media`` there with ``SEBASTIAN_IN_NETNS=1``
(without it that directory is not collected). One ``python -m pytest`` runs everything.
docs/media-testing.md explains the set-up.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import missing_service

pytestmark = [pytest.mark.media, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SEBASTIAN_CHROMIUM", "/usr/bin/chromium")
MEDIA_DIR = ROOT / "tests" / "media"


def expected_media_tests() -> int:
    """Every ``test_`` function in tests/media must pass in there: one that is not collected
    (an import error, a typo in a marker) fails this test instead of vanishing."""
    pattern = re.compile(r"^(?:async )?def test_", re.MULTILINE)
    return sum(len(pattern.findall(path.read_text())) for path in MEDIA_DIR.glob("test_*.py"))


INNER_TIMEOUT = 900  # seconds; a whole run takes 4-6 minutes on two cores (real Chromium, aiortc, coturn)


def _require_namespace_and_browser() -> None:
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            missing_service(
                "A loopback-only network namespace", f"`{tool}` is not installed (util-linux, iproute2)"
            )
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        missing_service(
            "A loopback-only network namespace",
            f"`unshare -n` is not permitted here: {probe.stderr.strip() or probe.returncode}",
        )
    if not Path(CHROMIUM).exists():
        missing_service("Chromium", f"{CHROMIUM} does not exist (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError as exc:
        missing_service("Playwright", str(exc))


def _summary_counts(output: str) -> dict[str, int]:
    """``{"passed": 4, "skipped": 1}`` from pytest's last summary line."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error|skipped)", line)]
    if not lines:
        return {}
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", lines[-1])}


@pytest.mark.timeout(INNER_TIMEOUT + 60)
def test_media_suite_runs_in_a_loopback_only_namespace() -> None:
    if os.environ.get("SEBASTIAN_IN_NETNS") == "1":
        pytest.skip("already inside the media namespace")
    _require_namespace_and_browser()
    command = [
        "unshare",
        "-n",
        "sh",
        "-c",
        'ip link set lo up && exec "$0" "$@"',
        sys.executable,
        "-m",
        "pytest",
        "tests/media",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rfEs",
    ]
    env = {**os.environ, "SEBASTIAN_IN_NETNS": "1", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    try:
        inner = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=INNER_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"the media run took over {INNER_TIMEOUT} s:\n{out[-20000:]}")
    elapsed = time.monotonic() - started
    print(f"--- media tests in a loopback-only namespace ({elapsed:.1f} s) ---")
    print(inner.stdout[-30000:])
    if inner.stderr.strip():
        print("--- stderr ---")
        print(inner.stderr[-10000:])
    counts = _summary_counts(inner.stdout)
    assert inner.returncode == 0, f"the media run failed (exit {inner.returncode}): {counts}"
    expected = expected_media_tests()
    assert counts.get("passed", 0) >= expected, f"expected {expected} media tests to pass: {counts}"
    if os.environ.get("CI", "").lower() == "true":
        assert not counts.get("skipped"), f"media tests must not skip under CI: {counts}"
