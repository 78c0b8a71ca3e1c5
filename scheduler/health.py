"""Booth health: the store of self-test results and in-call quality samples (docs/selftest.md).

One short session per call. Values are checked by the callers (the protocol's JSON Schemas);
the table constraints of migration 0010 refuse a verdict or a loss outside its range anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from .database import Database
from .tables import CallQualityRow, SelfTestRow


@dataclass(frozen=True)
class SelfTestRecord:
    test_id: str
    booth_id: int
    trigger: str
    booking_id: int | None
    started_at: datetime
    finished_at: datetime
    verdict: str
    score: float | None
    figures: dict[str, Any]
    paths: dict[str, bool]
    problems: list[str]
    echo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallSampleRecord:
    booking_id: int
    booth_id: int
    at: datetime
    rtt_ms: float
    jitter_ms: float
    loss_percent: float
    bitrate_out_kbps: float
    bitrate_in_kbps: float
    frames_received: int
    relayed: bool


def _record(row: SelfTestRow) -> SelfTestRecord:
    return SelfTestRecord(
        test_id=row.test_id,
        booth_id=row.booth_id,
        trigger=row.trigger,
        booking_id=row.booking_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        verdict=row.verdict,
        score=row.score,
        figures=dict(row.figures),
        paths=dict(row.paths),
        problems=list(row.problems),
        echo=dict(row.echo),
    )


class HealthStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_selftest(self, record: SelfTestRecord) -> None:
        async with self.db.write() as session:
            session.add(
                SelfTestRow(
                    test_id=record.test_id,
                    booth_id=record.booth_id,
                    trigger=record.trigger,
                    booking_id=record.booking_id,
                    started_at=record.started_at,
                    finished_at=record.finished_at,
                    verdict=record.verdict,
                    score=record.score,
                    figures=record.figures,
                    paths=record.paths,
                    problems=record.problems,
                    echo=record.echo,
                )
            )

    async def latest(self, booth_ids: Iterable[int]) -> dict[int, SelfTestRecord]:
        """The last self-test of each booth that has one."""
        ids = list(booth_ids)
        if not ids:
            return {}
        last = (
            select(SelfTestRow.booth_id, func.max(SelfTestRow.id).label("last_id"))
            .where(SelfTestRow.booth_id.in_(ids))
            .group_by(SelfTestRow.booth_id)
            .subquery()
        )
        async with self.db.read() as session:
            rows = await session.scalars(select(SelfTestRow).join(last, SelfTestRow.id == last.c.last_id))
            return {row.booth_id: _record(row) for row in rows}

    async def history(self, booth_id: int, limit: int = 20) -> list[SelfTestRecord]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(SelfTestRow)
                .where(SelfTestRow.booth_id == booth_id)
                .order_by(SelfTestRow.id.desc())
                .limit(limit)
            )
            return [_record(row) for row in rows]

    async def tested_since(self, booth_id: int, since: datetime, trigger: str | None = None) -> bool:
        query = select(SelfTestRow.id).where(
            SelfTestRow.booth_id == booth_id, SelfTestRow.finished_at >= since
        )
        if trigger is not None:
            query = query.where(SelfTestRow.trigger == trigger)
        async with self.db.read() as session:
            return (await session.scalar(query.limit(1))) is not None

    async def add_call_sample(self, sample: CallSampleRecord) -> None:
        async with self.db.write() as session:
            session.add(CallQualityRow(**sample.__dict__))

    async def call_samples(self, booking_id: int) -> list[CallSampleRecord]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(CallQualityRow)
                .where(CallQualityRow.booking_id == booking_id)
                .order_by(CallQualityRow.id)
            )
            return [
                CallSampleRecord(
                    booking_id=row.booking_id,
                    booth_id=row.booth_id,
                    at=row.at,
                    rtt_ms=row.rtt_ms,
                    jitter_ms=row.jitter_ms,
                    loss_percent=row.loss_percent,
                    bitrate_out_kbps=row.bitrate_out_kbps,
                    bitrate_in_kbps=row.bitrate_in_kbps,
                    frames_received=row.frames_received,
                    relayed=row.relayed,
                )
                for row in rows
            ]
