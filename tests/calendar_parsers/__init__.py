"""Read an iCalendar stream with the parsers that real calendar clients use, offline.

* ``parse_with_icaljs``: ical.js, Thunderbird's parser (``node icaljs_events.js``; needs Node.js
  and ``npm ci`` at the repository root).
* ``parse_with_libical``: libical 3 through ICalGLib, Evolution's library, run by the *system*
  Python (``/usr/bin/python3 libical_events.py``; needs the Debian packages libical3,
  gir1.2-ical-3.0 and python3-gi). Also runs libical's RFC 5546 restriction check.
* ``parse_with_vobject``: vobject, an independent pure-Python parser (PyPI ``vobject``).

Each returns the same normalized structure::

    {"parser": str, "version": str,
     "calendar": {"version", "prodid", "method", "name", "x_wr_calname", "timezones": [...]},
     "events": [{"uid", "start_utc", "end_utc", "status", "sequence", "summary"}, ...],
     "freebusy": [{"uid", "start_utc", "end_utc", "periods": [[start, end], ...]}, ...],
     "errors": [str, ...]}

with instants as ``"YYYY-MM-DDTHH:MM:SSZ"``. Times qualified by a TZID are resolved through the
VTIMEZONE of the stream itself, so a wrong VTIMEZONE shows up as a wrong instant.

A parser that is not installed skips the calling test with the reason, unless the environment
variable ``CI`` is ``true``: then a missing parser fails the test, since a check that silently
skips in CI is no check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
FMT = "%Y-%m-%dT%H:%M:%SZ"

Parsed = dict[str, Any]


class ParserUnavailable(RuntimeError):
    """The parser or its runtime is not installed here."""


def _missing(reason: str) -> None:
    """Skip the running test, or fail it under CI=true: a parser missing in CI is a defect."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"calendar parser missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _run(argv: list[str], data: bytes, what: str) -> Parsed:
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=60, check=False)
    out = proc.stdout.decode("utf-8", "replace").strip()
    try:
        result = json.loads(out.splitlines()[-1]) if out else None
    except json.JSONDecodeError:
        result = None
    if result is None:
        raise AssertionError(
            f"{what} produced no JSON (exit {proc.returncode}): "
            f"{proc.stderr.decode('utf-8', 'replace')[-2000:]}"
        )
    if "fatal" in result:
        raise AssertionError(f"{what} could not read the stream: {result['fatal']}")
    return result


def icaljs_unavailable() -> str | None:
    """Why ical.js cannot run here, or None."""
    if shutil.which("node") is None:
        return "Node.js (`node`) is not installed"
    if not (REPO / "node_modules" / "ical.js").is_dir():
        return "ical.js is not installed: run `npm ci` at the repository root"
    return None


def libical_unavailable() -> str | None:
    """Why libical cannot run here, or None."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} (system Python with PyGObject) is not there"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        return (
            "libical GObject bindings are missing: apt-get install libical3 gir1.2-ical-3.0 "
            f"python3-gi ({probe.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:]})"
        )
    return None


def vobject_unavailable() -> str | None:
    try:
        import vobject  # noqa: F401
    except ImportError:
        return "vobject is not installed: pip install vobject"
    return None


_AVAILABILITY_CACHE: dict[str, str | None] = {}


def _check(name: str, probe: Callable[[], str | None]) -> None:
    if name not in _AVAILABILITY_CACHE:
        _AVAILABILITY_CACHE[name] = probe()
    reason = _AVAILABILITY_CACHE[name]
    if reason is not None:
        _missing(reason)


def parse_with_icaljs(data: bytes) -> Parsed:
    _check("ical.js", icaljs_unavailable)
    return _run(["node", str(HERE / "icaljs_events.js")], data, "ical.js")


def parse_with_libical(data: bytes) -> Parsed:
    _check("libical", libical_unavailable)
    return _run([SYSTEM_PYTHON, str(HERE / "libical_events.py")], data, "libical")


def parse_with_vobject(data: bytes) -> Parsed:
    _check("vobject", vobject_unavailable)
    import vobject

    errors: list[str] = []
    calendars = list(vobject.readComponents(data.decode("utf-8")))
    if len(calendars) != 1:
        raise AssertionError(f"vobject found {len(calendars)} top-level components, expected 1")
    cal = calendars[0]
    if cal.name != "VCALENDAR":
        errors.append(f"top-level component is {cal.name}")

    # Resolve TZIDs through the stream's own VTIMEZONEs (vobject would otherwise fall back to
    # pytz for a known name, which would hide a wrong VTIMEZONE).
    zones = {vtz.tzid.value: vtz.gettzinfo() for vtz in cal.contents.get("vtimezone", [])}

    def utc(comp: Any, name: str) -> str | None:
        line = comp.contents.get(name, [None])[0]
        if line is None:
            return None
        value = line.value
        if not isinstance(value, datetime):
            errors.append(f"{name.upper()} is not a DATE-TIME: {value!r}")
            return None
        # vobject moves TZID to X-VOBJ-ORIGINAL-TZID when it converts the value, and keeps the
        # first VTIMEZONE it ever saw for a TZID for the life of the process: use this stream's.
        tzid = (line.params.get("TZID") or line.params.get("X-VOBJ-ORIGINAL-TZID") or [None])[0]
        if tzid is not None:
            if tzid not in zones:
                errors.append(f"{name.upper()}: TZID {tzid!r} has no VTIMEZONE in the stream")
                return None
            value = value.replace(tzinfo=zones[tzid])
        elif value.tzinfo is None:
            errors.append(f"{name.upper()} is floating (neither Z nor TZID)")
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime(FMT)

    def first(comp: Any, name: str) -> Any:
        line = comp.contents.get(name, [None])[0]
        return None if line is None else line.value

    events = []
    for ev in cal.contents.get("vevent", []):
        end = utc(ev, "dtend")
        if end is None and "duration" in ev.contents:
            start = datetime.strptime(utc(ev, "dtstart") or "", FMT)
            end = (start + first(ev, "duration")).strftime(FMT)
        seq = first(ev, "sequence")
        events.append(
            {
                "uid": first(ev, "uid"),
                "start_utc": utc(ev, "dtstart"),
                "end_utc": end,
                "status": first(ev, "status"),
                "sequence": None if seq is None else int(seq),
                "summary": first(ev, "summary"),
            }
        )
    freebusy = []
    for fb in cal.contents.get("vfreebusy", []):
        periods = []
        for line in fb.contents.get("freebusy", []):
            for p_start, end_or_duration in line.value:
                p_end = (
                    end_or_duration if isinstance(end_or_duration, datetime) else p_start + end_or_duration
                )
                if p_start.utcoffset() != timedelta(0) or p_end.utcoffset() != timedelta(0):
                    errors.append("FREEBUSY period not in UTC")
                periods.append([p_start.astimezone(UTC).strftime(FMT), p_end.astimezone(UTC).strftime(FMT)])
        freebusy.append(
            {
                "uid": first(fb, "uid"),
                "start_utc": utc(fb, "dtstart"),
                "end_utc": utc(fb, "dtend"),
                "periods": periods,
            }
        )
    import importlib.metadata

    return {
        "parser": "vobject",
        "version": importlib.metadata.version("vobject"),
        "calendar": {
            "version": first(cal, "version"),
            "prodid": first(cal, "prodid"),
            "method": first(cal, "method"),
            "name": first(cal, "name"),
            "x_wr_calname": first(cal, "x-wr-calname"),
            "timezones": list(zones),
        },
        "events": events,
        "freebusy": freebusy,
        "errors": errors,
    }


PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    "ical.js": parse_with_icaljs,
    "libical": parse_with_libical,
    "vobject": parse_with_vobject,
}
