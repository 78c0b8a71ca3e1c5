"""Two signalling nodes on PostgreSQL and Redis, for the benchmarks that need several nodes.

Each node is the project's server (``bench_relay.server_commands``) with its own name
(``BOOTH_NODE_ID``), sharing a fresh PostgreSQL database, a Redis key prefix of its own run
(``BOOTH_REDIS_PREFIX``, removed at the end) and the server secret. PostgreSQL and Redis are the
local services (``BENCH_POSTGRES``, ``BENCH_REDIS`` to point elsewhere on loopback).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from bench_relay import Server, server_commands

POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a new database of this run, dropped afterwards."""
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this run in the shared Redis, its keys removed afterwards."""
    import redis.asyncio as redis

    client: Any = redis.Redis.from_url(REDIS_URL)
    prefix = f"bench-{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@dataclass
class Cluster:
    nodes: list[Server]

    def kill(self, node: Server) -> None:
        """``kill -9``: no shutdown code runs."""
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)

    def cpu(self) -> float:
        return sum(node.cpu() for node in self.nodes if node.process.poll() is None)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@contextlib.asynccontextmanager
async def cluster(
    session: aiohttp.ClientSession, database_url: str, prefix: str, tmp: Path, count: int = 2
) -> AsyncIterator[Cluster]:
    """``count`` nodes started one after the other (the first one migrates the database)."""
    command, _ = server_commands(sys.executable, database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTH_")}
    env |= {
        "BOOTH_REDIS_URL": REDIS_URL,
        "BOOTH_REDIS_PREFIX": prefix,
        "BOOTH_SECRET_FILE": str(tmp / "cluster.secret"),
    }
    nodes: list[Server] = []
    try:
        for name in "abcdefgh"[:count]:
            node = Server(
                f"node-{name}", command, env | {"BOOTH_NODE_ID": f"node-{name}"}, tmp / f"node-{name}.log"
            )
            nodes.append(node)
            await node.ready(session)
        yield Cluster(nodes)
    finally:
        for node in nodes:
            node.stop()
