"""Debian's nginx in front of booth-server nodes, configured with the files of ``deploy/nginx``.

:func:`nginx_proxy` starts ``/usr/sbin/nginx`` in the foreground with a main configuration
generated in a temporary directory (pid file, logs and temporary files inside it). Its http
block includes a generated ``upstream sebastian_nodes`` listing the given 127.0.0.1 ports and
the shipped ``sebastian-http.conf``; its one server block listens on a free 127.0.0.1 port and
includes the shipped ``sebastian-locations.conf``. The shipped files are included where they
are, never copied or edited, so a test through this proxy tests what operators deploy.

The fixture :func:`nginx_front` (import it into a test module or a conftest) starts as many
proxies as a test asks for and stops them after it. Under ``CI=true`` a missing nginx fails the
test (``apt-get install nginx``); elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import missing_service
from tests.nodes import free_port

NGINX = Path("/usr/sbin/nginx")
SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
HTTP_CONTEXT = SHIPPED / "sebastian-http.conf"
SERVER_CONTEXT = SHIPPED / "sebastian-locations.conf"
STARTS_WITHIN = 10.0


@dataclass
class Nginx:
    port: int
    directory: Path
    process: asyncio.subprocess.Process

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        """One line per finished request, in the shipped ``sebastian`` format."""
        return self.directory / "access.log"

    def access_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""


def main_config(directory: Path, port: int, upstream_file: Path) -> str:
    # nginx started as root hands requests to workers running as another user, which could
    # not write to the temporary directory; as anyone else it keeps its own user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{
    worker_connections 1024;
}}
http {{
{temp}
    include {upstream_file};
    include {HTTP_CONTEXT};
    access_log {directory / "access.log"} sebastian;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include {SERVER_CONTEXT};
    }}
}}
"""


def upstream_config(node_ports: Sequence[int]) -> str:
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n" for port in node_ports)
    return f"upstream sebastian_nodes {{\n{servers}}}\n"


def write_config(directory: Path, node_ports: Sequence[int]) -> tuple[Path, int]:
    """The generated main configuration and the port it listens on."""
    if not NGINX.exists():
        missing_service("nginx", f"{NGINX} not found (apt-get install nginx)")
    directory.mkdir(parents=True, exist_ok=True)
    upstream_file = directory / "upstream.conf"
    upstream_file.write_text(upstream_config(node_ports))
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(main_config(directory, port, upstream_file))
    return config, port


@asynccontextmanager
async def nginx_proxy(node_ports: Sequence[int], directory: Path) -> AsyncIterator[Nginx]:
    """nginx on a free 127.0.0.1 port in front of the nodes on ``node_ports``, round robin."""
    config, port = write_config(directory, node_ports)
    process = await asyncio.create_subprocess_exec(
        str(NGINX),
        "-p",
        str(directory),
        "-e",
        str(directory / "error.log"),
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    proxy = Nginx(port, directory, process)
    try:
        await _until_listening(proxy)
        yield proxy
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)  # fast shutdown: open sockets are cut
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _until_listening(proxy: Nginx) -> None:
    deadline = time.monotonic() + STARTS_WITHIN
    while True:
        if proxy.process.returncode is not None:
            raise AssertionError(f"nginx exited with {proxy.process.returncode}:\n{proxy.error_log()}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        except OSError:
            assert time.monotonic() < deadline, f"nginx did not listen within {STARTS_WITHIN} s"
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


NginxFront = Callable[[Sequence[int]], Awaitable[Nginx]]


@pytest.fixture
async def nginx_front(tmp_path: Path) -> AsyncIterator[NginxFront]:
    """``await nginx_front([port_a, port_b])``: nginx in front of those nodes, for this test."""
    numbers = itertools.count()
    async with AsyncExitStack() as proxies:

        async def start(node_ports: Sequence[int]) -> Nginx:
            directory = tmp_path / f"nginx-{next(numbers)}"
            return await proxies.enter_async_context(nginx_proxy(node_ports, directory))

        yield start
