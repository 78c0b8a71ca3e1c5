#!/usr/bin/python3
"""What libical (Evolution's library, through ICalGLib 3.0) sees in one iCalendar stream.

Run with the *system* interpreter, which has PyGObject: ``/usr/bin/python3 libical_events.py < x.ics``.
Prints one JSON object, the same shape as ``icaljs_events.js``::

    {"parser": "libical", "version": ..., "calendar": {...}, "events": [...], "freebusy": [...],
     "errors": [...]}

``errors`` lists every X-LIC-ERROR property libical attached while parsing, plus those added by
its RFC 5546 restriction check (``i_cal_restriction_check``: which properties each METHOD
requires or forbids), plus problems this script finds itself (floating times, a TZID without a
VTIMEZONE). Times given with a TZID are resolved through the VTIMEZONE *of the stream itself*,
never libical's built-in zones, so the stream's own definitions are what gets tested.

Needs the Debian packages libical3, gir1.2-ical-3.0 and python3-gi.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as ICal  # noqa: E402

K = ICal.ComponentKind
P = ICal.PropertyKind
UTC_ZONE = ICal.Timezone.get_utc_timezone()
FMT = "%Y-%m-%dT%H:%M:%SZ"


def _components(comp, kind):
    child = comp.get_first_component(kind)
    while child is not None:
        yield child
        child = comp.get_next_component(kind)


def _properties(comp, kind):
    prop = comp.get_first_property(kind)
    while prop is not None:
        yield prop
        prop = comp.get_next_property(kind)


def _walk(comp):
    yield comp
    for child in list(_components(comp, K.ANY_COMPONENT)):
        yield from _walk(child)


def _fmt(t) -> str:
    return datetime(
        t.get_year(), t.get_month(), t.get_day(), t.get_hour(), t.get_minute(), t.get_second()
    ).strftime(FMT)


def _libical_version() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libical3"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip() or ICal._version
    except OSError:
        return ICal._version


class Reader:
    def __init__(self, calendar) -> None:
        self.calendar = calendar
        self.errors: list[str] = []

    def utc(self, comp, kind) -> str | None:
        prop = comp.get_first_property(kind)
        if prop is None:
            return None
        name = ICal.Property.kind_to_string(kind)
        t = prop.get_dtstart() if kind == P.DTSTART_PROPERTY else prop.get_dtend()
        if t.is_date():
            self.errors.append(f"{name} is a DATE, not a DATE-TIME")
        if t.is_utc():
            return _fmt(t)
        tzid = prop.get_parameter_as_string("TZID")
        if tzid is None:
            self.errors.append(f"{name} is floating (neither Z nor TZID)")
            return _fmt(t)
        zone = self.calendar.get_timezone(tzid)
        if zone is None:
            self.errors.append(f"{name}: TZID {tzid!r} has no VTIMEZONE in the stream")
            return None
        local = t.clone()
        local.set_timezone(zone)
        return _fmt(local.convert_to_zone(UTC_ZONE))

    def end_utc(self, comp) -> str | None:
        end = self.utc(comp, P.DTEND_PROPERTY)
        if end is not None or comp.get_first_property(P.DURATION_PROPERTY) is None:
            return end
        start = datetime.strptime(self.utc(comp, P.DTSTART_PROPERTY) or "", FMT)
        return (start + timedelta(seconds=comp.get_duration().as_int())).strftime(FMT)


def main(text: str) -> dict:
    calendar = ICal.Component.new_from_string(text)
    if calendar is None:
        return {"parser": "libical", "fatal": "libical could not parse the stream"}
    errors: list[str] = []
    if calendar.isa() != K.VCALENDAR_COMPONENT:
        errors.append(f"top-level component is {ICal.Component.kind_to_string(calendar.isa())}")
    # Adds X-LIC-ERROR properties for each RFC 5546 restriction that the METHOD breaks.
    ICal.restriction_check(calendar)
    for comp in _walk(calendar):
        for prop in _properties(comp, P.XLICERROR_PROPERTY):
            errors.append(f"{ICal.Component.kind_to_string(comp.isa())}: {prop.get_xlicerror()}")

    cal_props: dict[str, str] = {}
    for prop in _properties(calendar, P.ANY_PROPERTY):
        cal_props.setdefault(prop.get_property_name(), prop.get_value_as_string())

    reader = Reader(calendar)
    events = []
    for ev in _components(calendar, K.VEVENT_COMPONENT):
        seq = ev.get_first_property(P.SEQUENCE_PROPERTY)
        status = ev.get_first_property(P.STATUS_PROPERTY)
        events.append(
            {
                "uid": ev.get_uid(),
                "start_utc": reader.utc(ev, P.DTSTART_PROPERTY),
                "end_utc": reader.end_utc(ev),
                "status": None if status is None else status.get_value_as_string(),
                "sequence": None if seq is None else seq.get_sequence(),
                "summary": ev.get_summary(),
            }
        )
    freebusy = []
    for fb in _components(calendar, K.VFREEBUSY_COMPONENT):
        periods = []
        for prop in _properties(fb, P.FREEBUSY_PROPERTY):
            period = prop.get_freebusy()
            start, end = period.get_start(), period.get_end()
            if not start.is_utc() or (not end.is_null_time() and not end.is_utc()):
                reader.errors.append("FREEBUSY period not in UTC")
            if end.is_null_time():
                end_text = (
                    datetime.strptime(_fmt(start), FMT) + timedelta(seconds=period.get_duration().as_int())
                ).strftime(FMT)
            else:
                end_text = _fmt(end)
            periods.append([_fmt(start), end_text])
        freebusy.append(
            {
                "uid": fb.get_uid(),
                "start_utc": reader.utc(fb, P.DTSTART_PROPERTY),
                "end_utc": reader.utc(fb, P.DTEND_PROPERTY),
                "periods": periods,
            }
        )
    return {
        "parser": "libical",
        "version": _libical_version(),
        "calendar": {
            "version": cal_props.get("VERSION"),
            "prodid": cal_props.get("PRODID"),
            "method": cal_props.get("METHOD"),
            "name": cal_props.get("NAME"),
            "x_wr_calname": cal_props.get("X-WR-CALNAME"),
            "timezones": [
                tz.get_first_property(P.TZID_PROPERTY).get_value_as_string()
                for tz in _components(calendar, K.VTIMEZONE_COMPONENT)
            ],
        },
        "events": events,
        "freebusy": freebusy,
        "errors": errors + reader.errors,
    }


if __name__ == "__main__":
    result = main(sys.stdin.buffer.read().decode("utf-8"))
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.exit(2 if "fatal" in result else 0)
