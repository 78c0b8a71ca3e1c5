"""Demo data: La Cantine in Paris and a partner space in San Francisco. Seeding twice is harmless."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.model import OpeningHours, Role
from scheduler.store import EmailTaken, Store

from . import auth


@dataclass(frozen=True)
class DemoVenue:
    name: str
    city: str
    timezone: str
    country: str
    subdivision: str | None
    address: str
    hours: tuple[str, str]
    booths: tuple[str, str]
    staff_email: str


VENUES = (
    DemoVenue(
        "La Cantine",
        "Paris",
        "Europe/Paris",
        "FR",
        None,
        "151 rue Montmartre, 75002 Paris",
        ("09:00", "19:00"),
        ("Cantine A", "Cantine B"),
        "staff.paris@demo.sebastian.example",
    ),
    DemoVenue(
        "Mission Bay Commons",
        "San Francisco",
        "America/Los_Angeles",
        "US",
        "CA",
        "500 Terry A Francois Blvd, San Francisco, CA 94158",
        ("08:00", "18:00"),
        ("SF A", "SF B"),
        "staff.sf@demo.sebastian.example",
    ),
)
ENTREPRENEUR = ("ada@demo.sebastian.example", "Ada Lovelace", "Analytical Engines SAS")
ADMIN_EMAIL = "admin@demo.sebastian.example"
#: Demo passwords are public by design; they exist only in databases seeded with --demo.
DEMO_PASSWORD = "sister-cities-demo"


async def seed(store: Store, now: datetime) -> list[tuple[str, str, str]]:
    """Create what is missing; return (role, email, password) lines to show the operator."""
    credentials: list[tuple[str, str, str]] = []
    venue_ids: dict[str, int] = {}
    for venue in VENUES:
        venue_id = await store.venue_id_by_name(venue.name)
        if venue_id is None:
            weekdays = {day: [list(venue.hours)] for day in ("mon", "tue", "wed", "thu", "fri")}
            venue_id = await store.create_venue(
                name=venue.name,
                city=venue.city,
                timezone=venue.timezone,
                country=venue.country,
                subdivision=venue.subdivision,
                address=venue.address,
                opening_hours=OpeningHours.from_json(weekdays),
            )
        venue_ids[venue.name] = venue_id
        for booth in venue.booths:
            if await store.booth_id_by_name(venue_id, booth) is None:
                await store.create_booth(venue_id, booth)

    password_hash = await auth.hash_password(DEMO_PASSWORD)
    people = [
        (Role.ENTREPRENEUR, *ENTREPRENEUR, None),
        (Role.ADMIN, ADMIN_EMAIL, "Sebastian Admin", "Sister Cities", None),
        *[(Role.STAFF, v.staff_email, f"{v.city} staff", v.name, venue_ids[v.name]) for v in VENUES],
    ]
    for role, email, name, company, venue_id in people:
        try:
            await store.create_account(
                email=email,
                name=name,
                company=company,
                role=role,
                password_hash=password_hash,
                now=now,
                venue_id=venue_id,
            )
        except EmailTaken:
            pass
        credentials.append((role.value, email, DEMO_PASSWORD))
    return credentials


def announce(credentials: list[tuple[str, str, str]]) -> None:
    """Print the demo accounts on the console (not to the log: logs never carry passwords)."""
    print("Demo data ready. Demo accounts (role, email, password):", flush=True)
    for role, email, password in credentials:
        print(f"    {role:<13} {email:<40} {password}", flush=True)
