"""When a campaign posts: its slot instants, computed on the wall clock of its timezone (pure).

Times are matched on the local wall clock and only then turned into instants, so a slot at 08:30 is 08:30 local
on both sides of a DST change. APScheduler's CronTrigger does the matching, but in UTC (no DST there), which
sidesteps its open DST bugs in 3.11. Then:

- a wall time that does not exist (spring forward: 01:30 on 2027-03-28 in London) fires at the shifted time,
  one hour later (02:30 BST, the same instant as 01:30 GMT would have been);
- a wall time that happens twice (fall back: 01:30 on 2026-10-25 in London) fires once, at the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from publisher.config import Campaign

_DURATION = re.compile(r"(\d+)\s*([mhd])")


def parse_duration(text: str) -> timedelta:
    """"45m", "2h", "1d" (or a combination, "1h30m")."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    found = _DURATION.findall(text)
    if not found or _DURATION.sub("", text).strip():
        raise ValueError(text)
    return sum((timedelta(**{units[unit]: int(n)}) for n, unit in found), timedelta())


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a naive wall-clock time in ``zone``: the first of two (fall back), shifted past a gap
    (spring forward)."""
    # fold=0 means the first of two readings, and inside a gap the offset from before it (so: shifted later).
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def cron_expression(campaign: Campaign) -> str | None:
    """The campaign's slots as a cron expression on the wall clock (minute hour day month weekday)."""
    if campaign.cron:
        return campaign.cron
    if campaign.slots:
        days = ",".join(campaign.slots.days)
        return ";".join(f"{int(t[3:])} {int(t[:2])} * * {days}" for t in campaign.slots.times)
    return None


def _wall_times(expression: str, after: datetime, before: datetime) -> Iterator[datetime]:
    """Naive wall-clock times matching a cron expression, in order, strictly after ``after``."""
    from apscheduler.triggers.cron import CronTrigger

    triggers = [CronTrigger.from_crontab(part.strip(), timezone=UTC) for part in expression.split(";")]
    fake_after = after.replace(tzinfo=UTC)
    fake_before = before.replace(tzinfo=UTC)
    nexts = [t.get_next_fire_time(None, fake_after + timedelta(microseconds=1)) for t in triggers]
    while True:
        candidates = [n for n in nexts if n is not None]
        if not candidates:
            return
        earliest = min(candidates)
        if earliest > fake_before:
            return
        yield earliest.replace(tzinfo=None)
        nexts = [t.get_next_fire_time(n, n + timedelta(microseconds=1)) if n == earliest else n
                 for t, n in zip(triggers, nexts, strict=True)]


def slot_instants(campaign: Campaign, zone: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """Every slot instant (UTC) in (after, until], inside the campaign's start and end dates."""
    instants: set[datetime] = set()
    expression = cron_expression(campaign)
    if expression:
        # Wall times a little either side, so shifted or doubled local times near the edges are not lost.
        wall_after = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
        wall_until = until.astimezone(zone).replace(tzinfo=None) + timedelta(hours=3)
        for wall in _wall_times(expression, wall_after, wall_until):
            instants.add(local_instant(wall, zone))
    for moment in campaign.once:
        instants.add(local_instant(moment, zone))
    start = datetime.combine(campaign.start, time(0), tzinfo=zone) if campaign.start else None
    end = datetime.combine(campaign.end + timedelta(days=1), time(0), tzinfo=zone) if campaign.end else None
    return sorted(i for i in instants if after < i <= until and (start is None or i >= start)
                  and (end is None or i < end))


def next_slots(campaign: Campaign, zone: ZoneInfo, now: datetime, count: int = 3,
               horizon: timedelta = timedelta(days=400)) -> list[datetime]:
    """The next ``count`` slot instants after ``now``."""
    found: list[datetime] = []
    window = timedelta(days=8)
    cursor = now
    while len(found) < count and cursor - now < horizon:
        found += slot_instants(campaign, zone, cursor, cursor + window)
        cursor += window
    return found[:count]

