"""The bus between several nodes, on Redis: room logs as streams, presence with a TTL, leases.

Keys (all under ``BOOTH_REDIS_PREFIX``, ``sebastian:`` by default):

- ``room:{booking}`` — the room's log, a stream. Every append (``XADD``) checks the epoch in
  the same script, so nothing is ever appended to a log of a lost state. Every node that
  follows the room reads it (``XREAD``) and applies the entries in stream order to its replica;
  a node that starts following reads it from the start (or from where it stopped). It expires
  :data:`LOG_TTL` after its last append.
- ``member:{booth}`` — the room a booth is in, for its resume on any node.
- ``presence:{booth}`` — ``{node, conn, state, booking, since}`` with a TTL of
  :data:`PRESENCE_TTL`, refreshed by the node that holds the booth's socket every
  :data:`PRESENCE_REFRESH`. A node killed outright stops refreshing: its booths' records expire,
  and the room's timer node reports them dropped.
- ``lease:{booking}`` — which node fires the room's timers (countdowns, grace, slot end), for
  :data:`LEASE_TTL`, renewed every second. When that node dies another takes the lease. Two
  nodes that both think they hold it append two ``tick`` entries: the second finds nothing due.
- ``epoch`` — the state's epoch, ``"{id}:{seq_base}"`` (the id of a ``signalling_epochs`` row).
  Redis restarted without its data has none: the first node to notice starts a new epoch (a
  higher ``seq_base``) and every node closes its booths' connections in rooms with
  ``state_lost`` (docs/protocol.md, Resume).
- Pub/sub channel ``nodes``: kicks ("newer wins"), revocations, schedule refreshes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from scheduler.room_logs import RoomLogs
from webrtc.core import PresenceChanged
from webrtc.errors import ProtocolError
from webrtc.limits import RESUME_GRACE, SEQ_EPOCH_SPAN
from webrtc.log import decode_entry, encode_entry
from webrtc.waiting import cancel_and_wait

from .bus import Bus
from .clock import Clock

if TYPE_CHECKING:
    from .node import BoothPresence, SignallingNode

log = logging.getLogger(__name__)

PREFIX = "sebastian:"
LOG_TTL = 7 * 24 * 3600  # seconds a room's log outlives its last entry (a moved booking's room)
MEMBER_TTL = 24 * 3600
PRESENCE_TTL = 15.0
PRESENCE_REFRESH = 5.0
LEASE_TTL = 3.0
HOUSEKEEPING_EVERY = 1.0
RETRY_AFTER = 0.5  # seconds before a task whose Redis connection failed tries again
#: Connections to Redis per node. The writes are fire-and-forget tasks: hundreds of booths
#: connecting at once ask for that many connections, and redis-py's default pool (100) refuses
#: the rest; this pool makes them wait for a free one instead.
MAX_CONNECTIONS = 64
#: How long one XREAD waits for new entries: under the client's socket timeout (redis-py: 5 s),
#: which would otherwise end a quiet wait with an error.
READ_BLOCK_MS = 1000

# Append one entry if the epoch is still ours (and, with if_open, only to a log that exists).
_APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('EPOCH') end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'd', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return id
"""
# Take the lease, or renew it if it is ours.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# A node gives up a booth's presence record only if it still names that node's connection.
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current ~= false and cjson.decode(current)['conn'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""


class RedisBus(Bus):
    shared = True

    def __init__(self, url: str, clock: Clock, epochs: RoomLogs, prefix: str = PREFIX) -> None:
        """``epochs``: the database's ``signalling_epochs``, where a new epoch's number comes from."""
        # Any: redis-py types its answers as bytes | str (decode_responses); this client gets bytes.
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=None)
        self.client: Any = redis.Redis(connection_pool=pool)
        self.clock = clock
        self.epochs = epochs
        self.prefix = prefix
        self._node: SignallingNode | None = None
        self._epoch = ""
        #: (room, encoded entry, if_open, the connection that made it, if any) in append order
        self._queue: asyncio.Queue[tuple[int, bytes, bool, str | None]] = asyncio.Queue()
        self._followed: dict[int, bytes] = {}  # room -> id of the last entry applied
        self._applied: dict[int, bytes] = {}  # rooms no longer followed: where they stopped
        self._loading: dict[int, asyncio.Future[None]] = {}
        self._presence: dict[int, bytes] = {}  # booth held here -> its record
        self._leases: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._writes: set[asyncio.Task[None]] = set()  # fire-and-forget writes still running
        self._append = self.client.register_script(_APPEND)
        self._lease = self.client.register_script(_LEASE)
        self._release = self.client.register_script(_RELEASE)

    def _key(self, kind: str, ident: int | str) -> str:
        return f"{self.prefix}{kind}:{ident}"

    @property
    def _wake_key(self) -> str:
        assert self._node is not None
        return self._key("wake", self._node.node_id)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, node: SignallingNode) -> None:
        self._node = node
        await self._join_epoch(lost=False)
        self._tasks = [
            asyncio.create_task(self._write_appends(), name="redis-appends"),
            asyncio.create_task(self._read_logs(), name="redis-logs"),
            asyncio.create_task(self._listen(), name="redis-nodes"),
            asyncio.create_task(self._housekeeping(), name="redis-housekeeping"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):  # the appends of the closing sockets (their drops)
            await asyncio.wait_for(self._queue.join(), 2.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await cancel_and_wait(task)
        with contextlib.suppress(RedisError):
            for booth in list(self._presence):
                await self.client.delete(self._key("presence", booth))
            for booking in self._leases:
                await self.client.delete(self._key("lease", booking))
        await self.client.aclose()
        await self.client.connection_pool.aclose()

    async def _join_epoch(self, *, lost: bool) -> None:
        """Use the epoch Redis holds, or start one (a fresh Redis, or one that lost its data)."""
        key = self._key("epoch", "current")
        current = await self.client.get(key)
        if current is None:
            epoch_id, base, _ = await self.epochs.start_epoch(self.clock.now(), SEQ_EPOCH_SPAN, lost=True)
            await self.client.set(key, f"{epoch_id}:{base}", nx=True)
            current = await self.client.get(key)
        assert current is not None
        self._epoch = current.decode()
        assert self._node is not None
        self._node.core.seq_base = int(self._epoch.split(":")[1])
        log.info("signalling epoch %s%s", self._epoch, " (new: the previous state was lost)" if lost else "")

    async def _epoch_lost(self) -> None:
        assert self._node is not None
        log.warning("signalling: Redis lost the signalling state (epoch %s is gone)", self._epoch)
        self._followed.clear()
        self._applied.clear()
        self._leases.clear()
        self._node.core.forget_rooms(self.clock.now())
        self._node.flush()
        await self._join_epoch(lost=True)
        await self._wake_reader()

    # --- what the node asks for -----------------------------------------------------------

    def append(self, booking: int, entry: dict[str, Any], if_open: bool) -> None:
        self._queue.put_nowait((booking, encode_entry(entry), if_open, entry.get("c")))

    def broadcast(self, kind: str, data: dict[str, Any]) -> None:
        assert self._node is not None
        message = json.dumps({"from": self._node.node_id, "kind": kind, "data": data})
        self._spawn(self.client.publish(self._key("channel", "nodes"), message))

    def follow(self, booking: int, follow: bool) -> None:
        if follow:
            return  # load() starts following, after reading what the log already has
        position = self._followed.pop(booking, None)
        if position is not None:
            self._applied[booking] = position
            self._spawn(self._wake_reader())
        if booking in self._leases:
            self._leases.discard(booking)
            self._spawn(self.client.delete(self._key("lease", booking)))

    async def load(self, booking: int) -> None:
        with _told_when_unreachable():
            await self._load(booking)

    async def _load(self, booking: int) -> None:
        if booking in self._followed:
            return
        loading = self._loading.get(booking)
        if loading is not None:
            await asyncio.shield(loading)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loading[booking] = future
        try:
            after = self._applied.pop(booking, b"0-0")
            entries = await self.client.xrange(self._key("room", booking), min=b"(" + after, max="+")
            assert self._node is not None
            for entry_id, fields in entries:
                self._node.core.apply(booking, decode_entry(fields[b"d"]))
                after = entry_id
            self._node.flush()
            self._followed[booking] = after
            await self._wake_reader()
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter re-raises it
            raise
        finally:
            del self._loading[booking]

    def member_changed(self, booth: int, booking: int | None) -> None:
        key = self._key("member", booth)
        if booking is None:
            self._spawn(self.client.delete(key))
        else:
            self._spawn(self.client.set(key, booking, ex=MEMBER_TTL))

    async def member_of(self, booth: int) -> int | None:
        with _told_when_unreachable():
            value = await self.client.get(self._key("member", booth))
        return int(value) if value is not None else None

    def presence_changed(self, presence: PresenceChanged) -> None:
        assert self._node is not None
        key = self._key("presence", presence.booth)
        conn = self._node.core.conn_of(presence.booth)
        if conn is not None:
            record = _record(self._node.node_id, conn, presence)
            self._presence[presence.booth] = record
            self._spawn(self.client.set(key, record, px=int(PRESENCE_TTL * 1000)))
            return
        # The booth's socket here is gone: give up its record, unless another node holds it now.
        previous = self._presence.pop(presence.booth, None)
        if previous is None:
            return
        old_conn = json.loads(previous)["conn"]
        if presence.state == "reconnecting":
            value, ttl = (
                _record(self._node.node_id, old_conn, presence),
                int(RESUME_GRACE.total_seconds() * 1000),
            )
        else:
            value, ttl = b"", 0
        self._spawn(self._release(keys=[key], args=[old_conn, value, ttl]))

    async def presence(self, booth_ids: Sequence[int]) -> list[BoothPresence]:
        from .node import BoothPresence

        values = await self.client.mget([self._key("presence", b) for b in booth_ids]) if booth_ids else []
        out = []
        for booth, value in zip(booth_ids, values, strict=True):
            if value is None:
                out.append(BoothPresence(booth, "offline", None, None))
                continue
            record = json.loads(value)
            since = datetime.fromisoformat(record["since"])
            out.append(BoothPresence(booth, record["state"], record["booking"], since))
        return out

    # --- tasks ------------------------------------------------------------------------------

    async def _write_appends(self) -> None:
        """Appends in the order the node made them, several per round trip when they queue up."""
        epoch_key = self._key("epoch", "current")
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 256:
                batch.append(self._queue.get_nowait())
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for booking, data, if_open, _ in batch:
                        await self._append(
                            keys=[epoch_key, self._key("room", booking)],
                            args=[self._epoch, data, "1" if if_open else "0", LOG_TTL],
                            client=pipe,
                        )
                    results = await pipe.execute(raise_on_error=False)
            except RedisError:
                log.exception("signalling: appends to Redis failed; %d entries lost", len(batch))
                assert self._node is not None
                self._node.core.appends_lost(conn for *_, conn in batch if conn is not None)
                self._node.flush()
                continue
            finally:
                for _ in batch:
                    self._queue.task_done()
            if any(isinstance(r, ResponseError) and "EPOCH" in str(r) for r in results):
                await self._epoch_lost()

    async def _wake_reader(self) -> None:
        await self.client.xadd(self._wake_key, {"w": 1}, maxlen=8, approximate=False)

    async def _read_logs(self) -> None:
        """Hand every followed room's new entries to the node, in stream order."""
        reader: Any = redis.Redis(connection_pool=self.client.connection_pool)
        wake_position = b"$"
        while True:
            streams = {self._key("room", b): p for b, p in self._followed.items()}
            streams[self._wake_key] = wake_position
            try:
                answer = await reader.xread(streams, block=READ_BLOCK_MS)
            except RedisError:
                log.exception("signalling: reading the room logs failed; trying again")
                await asyncio.sleep(RETRY_AFTER)
                continue
            assert self._node is not None
            for key, entries in answer or ():  # nothing new within READ_BLOCK_MS
                name = key.decode()
                if name == self._wake_key:
                    wake_position = entries[-1][0]
                    continue
                booking = int(name.rsplit(":", 1)[1])
                if booking not in self._followed:
                    continue
                decoded = [decode_entry(fields[b"d"]) for _, fields in entries]
                self._followed[booking] = entries[-1][0]
                self._node.on_entries(booking, decoded)

    async def _listen(self) -> None:
        """The other nodes' broadcasts, for the node's whole life: a lost connection (Redis
        restarting) subscribes again; what was published meanwhile is lost (pub/sub)."""
        assert self._node is not None
        node = self._node
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._key("channel", "nodes"))
                async for message in pubsub.listen():
                    body = json.loads(message["data"])
                    if body["from"] != node.node_id:
                        node.on_broadcast(body["kind"], body["data"])
            except RedisError:
                log.exception("signalling: listening to the other nodes failed; subscribing again")
                await asyncio.sleep(RETRY_AFTER)
            finally:
                with contextlib.suppress(RedisError):
                    await pubsub.aclose()

    async def _housekeeping(self) -> None:
        """Every second: the epoch, the presence records, the room leases, booths whose node died."""
        assert self._node is not None
        node, core = self._node, self._node.core
        last_refresh = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HOUSEKEEPING_EVERY)
            try:
                if (await self.client.get(self._key("epoch", "current"))) != self._epoch.encode():
                    await self._epoch_lost()
                    continue
                if loop.time() - last_refresh >= PRESENCE_REFRESH and self._presence:
                    last_refresh = loop.time()
                    async with self.client.pipeline(transaction=False) as pipe:
                        for booth, record in self._presence.items():
                            pipe.set(self._key("presence", booth), record, px=int(PRESENCE_TTL * 1000))
                        await pipe.execute()
                now = self.clock.now()
                rooms = list(self._followed)
                async with self.client.pipeline(transaction=False) as pipe:
                    for booking in rooms:
                        await self._lease(
                            keys=[self._key("lease", booking)],
                            args=[node.node_id, int(LEASE_TTL * 1000)],
                            client=pipe,
                        )
                    leases = await pipe.execute()
                for booking, held in zip(rooms, leases, strict=True):
                    if held:
                        self._leases.add(booking)
                    else:
                        self._leases.discard(booking)
                    core.follow_timers(booking, held)
                    if held:
                        await self._report_lost(booking, now)
                node.flush()
                node.wake()
            except RedisError:
                log.exception("signalling: Redis housekeeping failed; trying again")

    async def _report_lost(self, booking: int, now: datetime) -> None:
        """Present members whose socket was on a node that no longer says so (killed, or the
        booth went elsewhere) dropped: the room starts their resume grace."""
        assert self._node is not None
        elsewhere = self._node.core.present_elsewhere(booking)
        if not elsewhere:
            return
        values = await self.client.mget([self._key("presence", booth) for booth, _ in elsewhere])
        for (booth, conn), value in zip(elsewhere, values, strict=True):
            if value is None or json.loads(value)["conn"] != conn:
                self._node.core.report_lost(booking, booth, conn, now)

    def _spawn(self, awaitable: Any) -> None:
        async def run() -> None:
            try:
                await awaitable
            except RedisError:
                log.exception("signalling: a Redis write failed")

        task = asyncio.ensure_future(run())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)


@contextlib.contextmanager
def _told_when_unreachable() -> Iterator[None]:
    """A booth's request that needs Redis while it is unreachable: the booth is told
    ``state_lost`` (reconnect and join again), not ``internal_error``: it is no server bug."""
    try:
        yield
    except RedisError as exc:
        log.warning("signalling: Redis is unreachable (%s); the booth is told to reconnect", exc)
        raise ProtocolError("state_lost", "the signalling state could not be reached: reconnect") from exc


def _record(node: str, conn: str, presence: PresenceChanged) -> bytes:
    return json.dumps(
        {
            "node": node,
            "conn": conn,
            "state": presence.state,
            "booking": presence.booking,
            "since": presence.since.isoformat(),
        }
    ).encode()
