"""Schema-driven fuzzing of the whole HTTP API from booth_server/openapi.json (schemathesis).

For each engine the real server runs as ``booth-server`` (its own process, demo data, the
clock of the other tests); for each role (entrepreneur, staff, admin) every documented
operation gets generated requests, valid ones and invalid ones, within a time budget. Every
answer must be no 5xx, a documented status code, a documented content type, and a body that
fits its documented schema. The figures go to the terminal (captured or not) and are asserted.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from booth_server.app import openapi_document
from tests.conftest import ADA, ADMIN, DEMO_PASSWORD, STAFF_PARIS
from tests.processes import wait_until_healthy
from tests.server.test_cli import _free_port, clean_env

#: A bound on each role's run, far above what it needs: 2 valid plus 2 invalid requests per
#: operation take 8–15 s on 2 cores (the whole fuzz, 3 roles × 2 engines, about 75 s), 35 s when
#: other test runs load the machine. Generating cases is most of the cost; the strategies are
#: built once, before any timed run. What a bounded run leaves is counted in the figures.
BUDGET_PER_ROLE = 60.0
EXAMPLES_PER_OPERATION = 2
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Last, so that the role's own token stays valid for everything else.
LOGS_OUT = ("DELETE /api/v1/tokens/current", "DELETE /api/v1/session")


@dataclass
class Figures:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    operations: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def line(self, label: str) -> str:
        five = sum(n for status, n in self.statuses.items() if status >= 500)
        codes = " ".join(f"{status}:{n}" for status, n in sorted(self.statuses.items()))
        return (
            f"{label}: {self.requests} requests over {self.operations} operations in {self.seconds:.1f} s "
            f"({self.skipped} left for lack of time), 5xx: {five}, failures: {len(self.failures)} [{codes}]"
        )


def fuzz(base: str, headers: dict[str, str], budget: float) -> Figures:
    """Generated requests for every operation (a bounded number each) until the budget is
    spent; the operations left then are counted, and the test fails if any were."""
    operations = _operations()
    figures = Figures()
    started = time.monotonic()
    deadline = started + budget
    http = requests.Session()
    for index, operation in enumerate(operations):
        if operation.label == "GET /api/v1/signalling":
            continue  # a WebSocket upgrade: its frames are fuzzed by the protocol tests
        if time.monotonic() > deadline:
            figures.skipped += len(operations) - index
            break
        figures.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, _strategy(operation.label, mode), base, headers, http, figures)
    figures.seconds = time.monotonic() - started
    return figures


@functools.cache
def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_dict(openapi_document())
    operations = []
    for result in schema.get_all_operations():
        # Err: the document itself is broken, which test_openapi.py reports by name.
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    return sorted(operations, key=lambda op: op.label in LOGS_OUT)


@functools.cache
def _strategy(label: str, mode: GenerationMode) -> Any:
    """Built once per run of the suite: building is a good part of the cost."""
    (operation,) = [op for op in _operations() if op.label == label]
    return operation.as_strategy(generation_mode=mode)


def _fuzz_operation(
    operation: Any,
    strategy: Any,
    base: str,
    headers: dict[str, str],
    http: requests.Session,
    figures: Figures,
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            response = case.call(base_url=base, session=http, headers=dict(headers), timeout=15)
        except requests.RequestException as exc:
            figures.failures.setdefault(operation.label, f"no answer: {exc}")
            return
        figures.requests += 1
        figures.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its check failures
            figures.failures.setdefault(
                f"{operation.label} -> {response.status_code}",
                f"{str(exc)[:1500]}\n{case.as_curl_command()}",
            )

    try:
        run()
    except Unsatisfiable:
        pass  # nothing to make invalid (an operation without parameters or body)


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """booth-server on one engine (SQLite, then PostgreSQL), as deployed; its base URL."""
    database = database_url
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "booth_server.cli", "--demo", "--port", str(port), "--database", database],
        *["--secret-file", str(tmp_path / "fuzz.secret")],
        stdout=log,
        stderr=log,
        env=clean_env({"BOOTH_CLOCK_START": "2027-03-01T12:00:00Z"}),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base, server)
        yield base
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)
        log.close()
        server_log = (tmp_path / "server.log").read_text(errors="replace")
        if "Traceback" in server_log:
            print(server_log[-4000:])


async def test_fuzz_every_operation_as_each_role(served: str, request: pytest.FixtureRequest) -> None:
    engine = request.node.callspec.id
    plugins = request.config.pluginmanager
    terminal, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")

    def report(line: str) -> None:
        """On the terminal even when pytest captures output: CI's log shows the figures."""
        if terminal is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            terminal.write_line(line)

    failures: dict[str, str] = {}
    for operation in _operations():  # build every strategy once, outside the timed runs
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _strategy(operation.label, mode)
    for role, email in (("entrepreneur", ADA), ("staff", STAFF_PARIS), ("admin", ADMIN)):
        token = await asyncio.to_thread(
            requests.post,
            f"{served}/api/v1/tokens",
            json={"email": email, "password": DEMO_PASSWORD},
            timeout=15,
        )
        assert token.status_code == 201, token.text
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        figures = await asyncio.to_thread(fuzz, served, headers, BUDGET_PER_ROLE)
        report(figures.line(f"fuzz {engine} {role}"))
        for label, detail in figures.failures.items():
            print(f"--- {label}\n{detail}")
        # Under heavy load the bound may leave the last operations: the figures say how many.
        reached = figures.operations / (figures.operations + figures.skipped)
        assert figures.requests >= 50 and reached >= 0.5, figures.line(f"too little fuzzing as {role}")
        failures |= {f"{role}: {label}": detail for label, detail in figures.failures.items()}
    assert failures == {}, "\n".join(failures)
