"""Instructions per relayed message: the project's server against a bare aiohttp relay, under
callgrind.

``bench_relay.py`` measures CPU seconds, which on a shared two-core machine move by 10-20 %
from one round to the next. Callgrind counts the instructions a process runs instead: the
same program, inputs and environment give the same count whatever else the machine is doing,
so a change of a few percent in the relay path shows. It leaves out the kernel (the socket
calls cost both servers alike) and cache misses, which is why the CPU ratio of
``bench_relay.py`` is the figure of record and this one the tool for working on it.

Both servers run under ``valgrind --tool=callgrind`` (about 50 times slower) on 127.0.0.1, fed
by the same clients as ``bench_relay.py``. The counters are zeroed after a warm-up, the
booths relay a fixed number of candidates and offers, and the counters are dumped; the
instructions the server runs while idle for the same time (its timers) are measured next and
taken off.

    python bench/bench_relay_instructions.py            # about 2 minutes
    python bench/bench_relay_instructions.py --parts    # and each step of the relay path, 2 more

``--parts`` counts, the same way, one candidate's relay path without a socket and the steps of
it that any relay which validates what it relays must take (``bench_relay.relay_steps``), each
in a loop, less the same loop doing nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_relay import (  # noqa: E402
    ROOT,
    THIS_FILE,
    Seeded,
    Server,
    Stats,
    open_rooms,
    pump,
    seed,
    server_commands,
)

from booth_server.cli import event_loop  # noqa: E402


class CallgrindServer(Server):
    """A server subprocess under callgrind, its counters zeroed and dumped on request."""

    def __init__(self, label: str, command: list[str], out: Path) -> None:
        self.out = out
        super().__init__(
            label, ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}", *command]
        )

    def zero(self) -> None:
        subprocess.run(
            ["callgrind_control", "--zero", str(self.process.pid)], check=True, capture_output=True
        )

    def dump(self) -> int:
        """Instructions since the last zero (blocking: call it in a thread)."""
        before = set(glob.glob(f"{self.out}.*"))
        subprocess.run(
            ["callgrind_control", "--dump", str(self.process.pid)], check=True, capture_output=True
        )
        for _ in range(100):
            new = set(glob.glob(f"{self.out}.*")) - before
            if new:
                for line in Path(new.pop()).read_text().splitlines():
                    if line.startswith(("summary:", "totals:")):
                        return int(line.split()[1])
            time.sleep(0.1)
        raise RuntimeError("callgrind wrote no dump")


async def measure(
    session: aiohttp.ClientSession,
    label: str,
    command: list[str],
    seeded: Seeded | None,
    args: argparse.Namespace,
) -> float:
    """Instructions per relayed message, idle time taken off."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        server = CallgrindServer(label, command, Path(tmp) / "callgrind.out")
        try:
            await server.ready(session, within=300)
            stats = Stats()
            pairs = await open_rooms(session, server, seeded, 0, args.rooms, stats)
            booths = [booth for pair in pairs for booth in pair]
            counter = [0 if label == "project" else 10_000_000]
            await pump(booths, stats, args.rate, 2.0, counter)  # warm-up: imports, caches, schemas
            await asyncio.sleep(1)
            await asyncio.to_thread(server.zero)
            received, started = stats.received, time.monotonic()
            await pump(booths, stats, args.rate, args.seconds, counter)
            took, relayed = time.monotonic() - started, stats.received - received
            busy = await asyncio.to_thread(server.dump)
            await asyncio.to_thread(server.zero)
            await asyncio.sleep(took)
            idle = await asyncio.to_thread(server.dump)
            per_message = (busy - idle) / relayed
            print(
                f"  {label:8s}: {relayed} messages relayed in {took:.1f} s, {busy / relayed:,.0f} instructions "
                f"per message, {idle / relayed:,.0f} of them the idle timers: {per_message:,.0f}"
            )
            for booth in booths:
                await booth.close()
            return per_message
        finally:
            server.stop()


def count_step(python: str, step: str, times: int) -> int:
    """Instructions of a whole ``bench_relay.py --run-step`` process under callgrind."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [python, str(THIS_FILE), "--run-step", step, str(times)]
        subprocess.run(
            ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}", *command], check=True
        )
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"callgrind counted nothing for {step}")


def parts(python: str, times: int = 5000) -> None:
    print(f"\nthe relay path of one candidate and its parts, no socket, {times} calls each:")
    nothing = count_step(python, "nothing", times)
    for step in (
        "relay path",
        "the log entry for the database (InProcessBus.append)",
        "orjson.loads",
        "jsonschema-rs is_valid",
        "the partner's copy (messages.relayed)",
        "the clock (Clock.now)",
    ):
        print(
            f"  {step}: {(count_step(python, step, times) - nothing) / times:,.0f} instructions", flush=True
        )


async def main(args: argparse.Namespace, python: str) -> None:
    print(
        f"{args.rooms} rooms, each booth relaying {args.rate:g} messages/s for {args.seconds:g} s under callgrind"
    )
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        seeded = await seed(Path(tmp) / "bench.db", 2 * args.rooms, args.rooms, datetime.now(UTC))
        project, bare = server_commands(python, seeded.url)
        async with aiohttp.ClientSession() as session:
            counts = {
                "project": await measure(session, "project", project, seeded, args),
                "bare": await measure(session, "bare", bare, None, args),
            }
    print(f"  ratio: {counts['project'] / counts['bare']:.2f}x the bare relay's instructions per message")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2.0, help="messages/s per booth")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--parts", action="store_true", help="also count each step of the relay path")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install valgrind)")
    os.chdir(ROOT)
    # Under valgrind the server must be the interpreter itself, not a launcher script (pyenv).
    interpreter = os.path.realpath(sys.executable)
    arguments = parser.parse_args()
    event_loop().run_until_complete(asyncio.wait_for(main(arguments, interpreter), 900))
    if arguments.parts:
        parts(interpreter)
