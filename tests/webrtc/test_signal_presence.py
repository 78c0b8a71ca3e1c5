"""Idle booths and the schedule they are shown, in their own and their partner's local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from webrtc.messages import dump, parse
from webrtc.presence import BookingView, BoothView, Presence, build_schedule, schedule_changes_at

PARIS = BoothView(1, "La Cantine", "Paris", "Europe/Paris")
SF = BoothView(2, "Mission booth", "San Francisco", "America/Los_Angeles")
OTHER = BoothView(3, "Other", "Paris", "Europe/Paris")


def booking(
    booking_id: int, start: datetime, hours: float = 1, booths: tuple[BoothView, ...] = (PARIS, SF)
) -> BookingView:
    return BookingView(booking_id, start, start + timedelta(hours=hours), booths)


def test_local_times_nine_hours_apart_in_june_eight_in_march() -> None:
    june = booking(1, datetime(2025, 6, 12, 15, 0, tzinfo=UTC))
    march = booking(2, datetime(2025, 3, 20, 16, 0, tzinfo=UTC))  # US already on summer time, France not yet
    for view, now, paris_local, sf_local in [
        (
            june,
            datetime(2025, 6, 12, 9, 0, tzinfo=UTC),
            "2025-06-12T17:00:00+02:00",
            "2025-06-12T08:00:00-07:00",
        ),
        (
            march,
            datetime(2025, 3, 20, 9, 0, tzinfo=UTC),
            "2025-03-20T17:00:00+01:00",
            "2025-03-20T09:00:00-07:00",
        ),
    ]:
        schedule = build_schedule(PARIS, [view], now)
        wire = dump(schedule)
        assert parse(wire, origin="server") == schedule
        (entry,) = wire["bookings"]
        assert entry["local_start"] == paris_local
        assert entry["partners"][0]["local_start"] == sf_local
        assert entry["join_opens_at"] == (view.start - timedelta(minutes=5)).isoformat().replace(
            "+00:00", "Z"
        )


def test_only_the_booths_bookings_not_over_and_within_24_hours_soonest_first() -> None:
    now = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)
    views = [
        booking(10, now + timedelta(hours=5)),
        booking(11, now - timedelta(minutes=30)),  # in progress: shown
        booking(12, now - timedelta(hours=2)),  # over
        booking(13, now + timedelta(hours=24)),  # just beyond the horizon
        booking(14, now + timedelta(hours=1), booths=(OTHER, SF)),  # not this booth's
    ]
    schedule = build_schedule(PARIS, views, now)
    assert [b.booking_id for b in schedule.bookings] == [11, 10]
    assert build_schedule(SF, views, now).bookings[0].partners[0].booth_id == PARIS.booth_id
    assert schedule_changes_at(PARIS.booth_id, views, now) == now + timedelta(minutes=30)  # booking 11 ends


def test_presence_pushes_only_to_idle_booths_and_only_changes() -> None:
    now = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)
    presence = Presence()
    empty = build_schedule(PARIS, [], now)
    assert presence.update(empty) is None  # not connected
    presence.connect(PARIS.booth_id)
    assert presence.update(empty) == empty
    assert presence.update(build_schedule(PARIS, [], now + timedelta(minutes=1))) is None  # same bookings
    one = build_schedule(PARIS, [booking(1, now + timedelta(hours=1))], now)
    assert presence.update(one) == one
    presence.enter_room(PARIS.booth_id, 1)
    assert not presence.is_idle(PARIS.booth_id) and presence.update(empty) is None
    presence.leave_room(PARIS.booth_id)
    assert presence.idle_booths() == [PARIS.booth_id]
    assert presence.update(one) == one  # shown again after the room
    presence.disconnect(PARIS.booth_id)
    assert presence.idle_booths() == []
