"""The signalling core without sockets: several nodes, one shared log, booths as inboxes.

:class:`Cluster` plays the shell and the bus for two or three :class:`SignallingCore` nodes: it
appends their entries to one ordered log per room, hands every entry to every node (each keeps
its replica), carries broadcasts, and collects what each connection was sent. A node "dies" by
being dropped from the cluster without a word, as ``kill -9`` would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webrtc.core import (
    Append,
    BookingInfo,
    Broadcast,
    Close,
    Counted,
    Hello,
    MemberOf,
    PresenceChanged,
    PushSchedule,
    Send,
    SignallingCore,
    Timings,
    Watch,
)
from webrtc.errors import ProtocolError
from webrtc.limits import RESUME_GRACE, SEQ_EPOCH_SPAN
from webrtc.log import decode_entry, encode_entry
from webrtc.messages import Relayed, dump

PARIS, SF = 1, 3
BOOKING = 42
START = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
INFO = BookingInfo(BOOKING, (PARIS, SF), START, END)
SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", "sdpMid": "0"}


def signal(kind: str, **payload: Any) -> dict[str, Any]:
    return {"type": kind, "booking_id": BOOKING, **payload}


@dataclass
class Cluster:
    """Nodes sharing one log per room (the Redis bus's contract), or one node that is its own
    log (``local=True``, the embedded default)."""

    names: tuple[str, ...] = ("n1", "n2")
    local: bool = False
    nodes: dict[str, SignallingCore] = field(init=False)
    logs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    applied: dict[tuple[str, int], int] = field(default_factory=dict)
    inbox: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    closed: dict[str, tuple[int, str]] = field(default_factory=dict)
    pushes: list[tuple[str, int]] = field(default_factory=list)
    presence: dict[int, str] = field(default_factory=dict)
    counted: list[Counted] = field(default_factory=list)
    unreachable: bool = False  # the shared log takes no entry (Redis down, or restarted empty)
    _ids: int = 0

    def __post_init__(self) -> None:
        self.nodes = {name: self.node(name) for name in self.names}

    def node(self, name: str) -> SignallingCore:
        return SignallingCore(node=name, timings=Timings(20, 45), local_log=self.local)

    def hello(self, name: str, booth: int, now: datetime, **resume: Any) -> str:
        self._ids += 1
        conn = f"{name}:{id(self)}:{self._ids}"  # unique across runs, as the shell's ids are
        self.nodes[name].hello(
            conn,
            Hello(booth, 1, "st", now + timedelta(hours=1), f"rt{self._ids}", f"h{self._ids}", **resume),
            now,
        )
        self.pump()
        return conn

    def signal(self, name: str, conn: str, wire: dict[str, Any], now: datetime) -> None:
        """A signal on node ``name``; with a local log the core returns its Send, performed here."""
        send = self.nodes[name].signal(conn, wire, now)
        if send is not None:
            self._perform(name, send)

    def kill(self, name: str) -> None:
        """The node is gone: no close, no entry, nothing."""
        del self.nodes[name]

    def pump(self) -> None:
        """Carry actions and log entries until nothing moves."""
        moved = True
        while moved:
            moved = False
            for name, core in list(self.nodes.items()):
                for action in core.take_actions():
                    moved = True
                    self._perform(name, action)
            if not self.local:
                for name, core in list(self.nodes.items()):
                    for booking, log in self.logs.items():
                        done = self.applied.get((name, booking), 0)
                        for entry in log[done:]:
                            core.apply(booking, decode_entry(encode_entry(entry)))  # as the bus carries it
                            moved = True
                        self.applied[(name, booking)] = len(log)

    def _perform(self, name: str, action: Any) -> None:
        if isinstance(action, Send):
            message = action.message
            wire = json.loads(message.data) if isinstance(message, Relayed) else dump(message)
            self.inbox.setdefault(action.conn, []).append(wire)
        elif isinstance(action, Close):
            self.closed[action.conn] = (action.code, action.reason)
        elif isinstance(action, Append):
            if self.unreachable:
                return
            log = self.logs.get(action.booking)
            if log is None and action.if_open:
                return
            self.logs.setdefault(action.booking, []).append(action.entry)
        elif isinstance(action, Broadcast):
            for other, core in self.nodes.items():
                if other != name:
                    if action.kind == "kick":
                        core.kick(action.data["booth"], action.data["keep"], NOW)
        elif isinstance(action, PushSchedule):
            self.pushes.append((name, action.booth))
        elif isinstance(action, PresenceChanged):
            self.presence[action.booth] = action.state
        elif isinstance(action, Counted):
            self.counted.append(action)
        else:
            assert isinstance(action, Watch | MemberOf)

    def take(self, conn: str) -> list[dict[str, Any]]:
        out, self.inbox[conn] = self.inbox.get(conn, []), []
        return out


NOW = START - timedelta(minutes=4)


def kinds(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``(type, seq, peer state or sender)`` of each message: what a booth acts on."""
    return [(m["type"], m.get("seq"), m.get("state") or m.get("from") or m.get("reason")) for m in messages]


def in_call(cluster: Cluster, paris_node: str = "n1", sf_node: str = "n2") -> tuple[str, str]:
    paris = cluster.hello(paris_node, PARIS, NOW)
    sf = cluster.hello(sf_node, SF, NOW)
    cluster.nodes[paris_node].join(paris, INFO, "j", NOW)
    cluster.pump()
    cluster.nodes[sf_node].join(sf, INFO, None, NOW)
    cluster.pump()
    return paris, sf


def test_booths_on_two_nodes_join_one_room_and_relay() -> None:
    c = Cluster()
    paris, sf = in_call(c)
    assert kinds(c.take(paris)) == [
        ("welcome", None, None),
        ("joined", 1, None),
        ("peer_status", 2, "waiting"),
        ("peer_status", 3, "joined"),
    ]
    assert kinds(c.take(sf)) == [("welcome", None, None), ("joined", 1, None), ("peer_status", 2, "joined")]
    c.signal("n1", paris, signal("offer", sdp=SDP), NOW)
    c.pump()
    c.signal("n2", sf, signal("answer", sdp=SDP), NOW)
    c.pump()
    assert kinds(c.take(sf)) == [("offer", 3, PARIS)]
    assert kinds(c.take(paris)) == [("answer", 4, SF)]
    # Every replica agrees on the room, message for message.
    r1, r2 = (c.nodes[n].room(BOOKING) for n in ("n1", "n2"))
    assert r1 is not None and r2 is not None
    assert [r1.last_seq(b) for b in (PARIS, SF)] == [r2.last_seq(b) for b in (PARIS, SF)] == [4, 3]


def test_a_refused_signal_is_answered_on_the_senders_node_only() -> None:
    c = Cluster()
    paris, sf = in_call(c)
    c.take(paris)
    c.take(sf)
    c.signal("n2", sf, signal("answer", id="a2", sdp=SDP), NOW)
    c.pump()
    assert [(m["type"], m["code"], m["ref"]) for m in c.take(sf)] == [("error", "unexpected_answer", "a2")]
    assert c.take(paris) == []


def test_resume_on_another_node_after_a_kill_replays_in_order_once() -> None:
    c = Cluster(("n1", "n2", "n3"))
    paris, sf = in_call(c)
    c.take(paris)
    seen = 3
    c.kill("n1")  # Paris's node dies: nobody tells the room
    for _ in range(3):
        c.signal("n2", sf, signal("candidate", candidate=CANDIDATE), NOW)
    c.pump()
    # The room's timer node finds Paris's presence gone and reports it.
    assert c.nodes["n2"].present_elsewhere(BOOKING) == [(PARIS, paris)]
    c.nodes["n2"].report_lost(BOOKING, PARIS, paris, NOW)
    c.pump()
    assert kinds(c.take(sf))[-1] == ("peer_status", 3, "reconnecting")
    back = c.hello(
        "n3", PARIS, NOW + timedelta(seconds=5), resume_booking=BOOKING, resume_presented="h1", last_seq=seen
    )
    got = c.take(back)
    assert got[0]["type"] == "welcome" and got[0]["resumed"] is True
    assert got[0]["replay_until"] == 6 and got[0]["resync"] is False
    assert kinds(got[1:]) == [("candidate", 4, SF), ("candidate", 5, SF), ("candidate", 6, SF)]
    assert kinds(c.take(sf)) == [("peer_status", 4, "back")]
    c.signal("n2", sf, signal("ice_restart"), NOW)
    c.pump()
    assert kinds(c.take(back)) == [("ice_restart", 7, SF)]


@pytest.mark.parametrize("how", ["appends_lost", "forget_rooms"])
def test_a_join_the_log_never_took_is_told_state_lost(how: str) -> None:
    """The join's entry was lost on its way (the shared log unreachable, or its epoch gone):
    the booth is told to reconnect, never left waiting for a ``joined`` that cannot come."""
    c = Cluster()
    paris = c.hello("n1", PARIS, NOW)
    idle = c.hello("n2", SF, NOW)
    c.take(paris)
    c.take(idle)
    c.unreachable = True
    c.nodes["n1"].join(paris, INFO, "j", NOW)
    c.pump()
    assert c.take(paris) == []
    if how == "appends_lost":
        c.nodes["n1"].appends_lost([paris, paris])
    else:
        c.nodes["n1"].forget_rooms(NOW)
        c.nodes["n2"].forget_rooms(NOW)
    c.pump()
    assert [(m["type"], m["code"]) for m in c.take(paris)] == [("error", "state_lost")]
    assert c.closed == {paris: (4007, "state_lost")}  # the idle booth was not disturbed
    assert c.take(idle) == []


def test_a_wrong_resume_token_fails_and_the_booth_is_idle() -> None:
    c = Cluster()
    paris, _ = in_call(c)
    again = c.hello("n2", PARIS, NOW, resume_booking=BOOKING, resume_presented="forged", last_seq=1)
    got = c.take(again)
    assert got[0]["type"] == "welcome" and got[0]["resumed"] is False
    assert got[1]["code"] == "resume_failed"
    assert ("n2", PARIS) in c.pushes  # idle again: a schedule follows


def test_newer_connection_on_another_node_takes_over() -> None:
    c = Cluster()
    paris, sf = in_call(c)
    c.take(sf)
    newer = c.hello("n2", PARIS, NOW)
    assert c.closed[paris] == (4005, "replaced")
    assert c.take(paris)[-1]["code"] == "replaced"
    assert c.take(newer)[0]["type"] == "welcome"
    assert kinds(c.take(sf)) == [("peer_status", 3, "reconnecting")]
    assert c.nodes["n2"].presence([PARIS])[0][1] == "idle"
    assert c.nodes["n1"].conn_of(PARIS) is None


def test_presence_follows_the_booth() -> None:
    c = Cluster()
    paris = c.hello("n1", PARIS, NOW)
    assert c.presence[PARIS] == "idle"
    c.nodes["n1"].join(paris, INFO, None, NOW)
    c.pump()
    assert c.presence[PARIS] == "in_room"
    c.nodes["n1"].closed(paris, NOW)
    c.pump()
    assert c.presence[PARIS] == "reconnecting"
    assert c.nodes["n2"].presence([PARIS]) == [(PARIS, "reconnecting", BOOKING, None)]
    c.nodes["n1"].tick(NOW + RESUME_GRACE)  # n1 fires no timers: it holds no lease
    c.pump()
    c.nodes["n2"].follow_timers(BOOKING, True)
    c.nodes["n2"].tick(NOW + RESUME_GRACE)
    c.pump()
    assert c.nodes["n2"].presence([PARIS])[0][1] == "offline"


def test_countdown_and_slot_end_fire_once_whoever_holds_the_lease() -> None:
    c = Cluster()
    paris, sf = in_call(c)
    c.take(paris)
    c.take(sf)
    five_before = END - timedelta(minutes=5)
    c.nodes["n1"].follow_timers(BOOKING, True)
    c.nodes["n2"].follow_timers(BOOKING, True)  # both think they hold it (a lease hand-over)
    c.nodes["n1"].tick(five_before)
    c.nodes["n2"].tick(five_before)
    c.pump()
    assert kinds(c.take(paris)) == [("countdown", 4, None)]
    assert kinds(c.take(sf)) == [("countdown", 3, None)]
    assert (
        sum(1 for entries in c.logs.values() for e in entries if e["e"] == "tick") == 2
    )  # one had no effect

    c.kill("n1")  # the lease holder dies; n2 takes the lease over
    c.nodes["n2"].follow_timers(BOOKING, True)
    c.nodes["n2"].tick(END - timedelta(minutes=1))
    c.pump()
    assert kinds(c.take(sf)) == [("countdown", 4, None)]
    c.nodes["n2"].tick(END)
    c.pump()
    assert kinds(c.take(sf)) == [("room_closed", 5, "slot_ended")]
    with pytest.raises(ProtocolError) as refused:  # told why the room is closed
        c.signal("n2", sf, signal("candidate", id="late", candidate=None), END)
    assert (refused.value.code, refused.value.ref) == ("slot_ended", "late")


def test_a_moved_booking_closes_the_room_and_numbering_goes_on() -> None:
    c = Cluster()
    paris, sf = in_call(c)
    c.take(paris)
    later = START + timedelta(days=1)
    c.nodes["n1"].booking_changed(BOOKING, "moved", (PARIS, SF), later, later + timedelta(hours=1), NOW)
    c.pump()
    assert kinds(c.take(paris)) == [("room_closed", 4, "moved")]
    with pytest.raises(ProtocolError) as refused:
        c.signal("n1", paris, signal("offer", id="o", sdp=SDP), NOW)
    assert refused.value.code == "moved"
    moved = BookingInfo(BOOKING, (PARIS, SF), later, later + timedelta(hours=1))
    c.nodes["n1"].join(paris, moved, None, later)
    c.pump()
    assert kinds(c.take(paris))[0] == ("joined", 5, None)


def test_one_process_numbers_a_moved_room_on_after_a_restart() -> None:
    """The embedded default's log holds no signals, so before a move closes the room it records
    the room's history: a restart then numbers the moved room on past every relayed signal."""
    c = Cluster(("solo",), local=True)
    paris, sf = in_call(c, "solo", "solo")
    c.signal("solo", paris, signal("offer", sdp=SDP), NOW)
    c.pump()
    assert kinds(c.take(sf))[-1] == ("offer", 3, PARIS)
    later = START + timedelta(days=1)
    c.nodes["solo"].booking_changed(BOOKING, "moved", (PARIS, SF), later, later + timedelta(hours=1), NOW)
    c.pump()
    assert [e["e"] for e in c.logs[BOOKING]][-2:] == ["kept", "change"]
    restarted = Cluster(("solo",), local=True)
    core = restarted.nodes["solo"]
    for entry in c.logs[BOOKING]:
        core.apply(BOOKING, decode_entry(encode_entry(entry)))
    core.take_actions()
    back = restarted.hello("solo", SF, later)
    restarted.take(back)
    core.join(back, BookingInfo(BOOKING, (PARIS, SF), later, later + timedelta(hours=1)), None, later)
    restarted.pump()
    assert kinds(restarted.take(back))[0] == ("joined", 5, None)  # after the offer (3) and room_closed (4)


def test_a_change_to_a_room_nobody_opened_writes_no_log() -> None:
    c = Cluster()
    c.nodes["n1"].booking_changed(BOOKING, "cancelled", (PARIS, SF), START, END, NOW)
    c.pump()
    assert c.logs == {}


@pytest.mark.parametrize("crashed", [False, True])
def test_one_process_rebuilds_its_rooms_from_the_written_log(crashed: bool) -> None:
    c = Cluster(("solo",), local=True)
    paris, sf = in_call(c, "solo", "solo")
    c.take(paris)
    c.signal("solo", paris, signal("offer", sdp=SDP), NOW)
    c.nodes["solo"].closed(sf, NOW)  # SF's socket drops as the server goes down
    c.pump()
    assert [e["e"] for e in c.logs[BOOKING]] == ["open", "join", "join", "drop"]  # a signal is no entry
    if not crashed:  # a graceful stop records the room's history after the rest
        kept = c.nodes["solo"].kept_entry(BOOKING, NOW)
        assert kept is not None
        c.logs[BOOKING].append(kept)
    written = [dict(e) for e in c.logs[BOOKING]]
    restarted = Cluster(("solo",), local=True)
    core = restarted.nodes["solo"]
    for entry in written:
        core.apply(BOOKING, decode_entry(encode_entry(entry)))
    core.take_actions()
    if crashed:
        core.restarted(SEQ_EPOCH_SPAN, NOW)
        restarted.pump()
    back = restarted.hello("solo", SF, NOW, resume_booking=BOOKING, resume_presented="h2", last_seq=2)
    welcome, *replay = restarted.take(back)
    assert welcome["resumed"] is True
    if crashed:
        assert welcome["resync"] is True and replay == []
        assert core.room(BOOKING) is not None and core.room(BOOKING).last_seq(SF) == SEQ_EPOCH_SPAN  # type: ignore[union-attr]
    else:
        assert welcome["resync"] is False
        assert kinds(replay) == [("offer", 3, PARIS)]
        # The offer is waiting for its answer in the rebuilt room too.
        restarted.signal("solo", back, signal("answer", sdp=SDP), NOW)
        restarted.pump()
        assert restarted.take(back) == []
