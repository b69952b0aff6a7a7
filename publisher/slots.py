"""When a campaign posts: its slot instants, computed on the wall clock of its timezone (pure).

Times are matched on the local wall clock and only then turned into instants, so a slot at 08:30 is 08:30 local
on both sides of a DST change. APScheduler's CronTrigger does the matching, but in UTC (no DST there), which
sidesteps its open DST bugs in 3.11. Then:

- a wall time that does not exist (spring forward: 01:30 on 2027-03-28 in London) fires at the shifted time,
  one hour later (02:30 BST, the same instant as 01:30 GMT would have been);
- a wall time that happens twice (fall back: 01:30 on 2026-10-25 in London) fires once, at the first;
- two wall times that land on the same instant that way (01:30 and 02:30 on spring-forward day) are one slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from publisher.config import Campaign


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


def iter_slots(campaign: Campaign, zone: ZoneInfo, now: datetime,
               horizon: timedelta = timedelta(days=3660)) -> Iterator[datetime]:
    """Slot instants after ``now``, in order, up to the campaign's end (or ``horizon``, so a cron expression
    that never matches cannot loop for ever)."""
    if not is_scheduled(campaign):
        return
    window = timedelta(days=8)
    cursor = now
    last_once = max((local_instant(m, zone) for m in campaign.once), default=None)
    end = datetime.combine(campaign.end, time(0), tzinfo=zone) + timedelta(days=1) if campaign.end else None
    while cursor - now < horizon:
        if end is not None and cursor >= end:
            return
        if not cron_expression(campaign) and (last_once is None or cursor >= last_once):
            return  # one-offs only, and all of them are behind us
        try:
            found = slot_instants(campaign, zone, cursor, cursor + window)
            cursor += window
        except OverflowError:  # the end of the calendar (year 9999)
            return
        yield from found


def next_slots(campaign: Campaign, zone: ZoneInfo, now: datetime, count: int = 3,
               horizon: timedelta = timedelta(days=400)) -> list[datetime]:
    """The next ``count`` slot instants after ``now``."""
    return list(islice(iter_slots(campaign, zone, now, horizon), count))


def is_scheduled(campaign: Campaign) -> bool:
    """Whether the campaign has slots at all (slots, cron or one-offs) and is enabled."""
    return campaign.enabled and bool(campaign.slots or campaign.cron or campaign.once)


def slot_key(slot_at: datetime, place: int) -> str:
    """How the store names the ``place``-th thread (1-based, up to threads_per_slot) of a slot instant."""
    return f"{slot_at.astimezone(UTC).isoformat()}#{place}"


def slot_of(key: str) -> tuple[datetime, int]:
    instant, place = key.rsplit("#", 1)
    return datetime.fromisoformat(instant), int(place)


def when_label(moment: datetime, zone: ZoneInfo, now: datetime | None = None) -> str:
    """"Tue 9 Dec 08:30": how people read a slot time, in the campaign's timezone; "Mon 4 Jan 2027 08:30" in
    another year than ``now``'s (the time of reading)."""
    local = moment.astimezone(zone)
    year = "" if local.year == (now or datetime.now(zone)).astimezone(zone).year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"


def date_label(moment: datetime, zone: ZoneInfo) -> str:
    """"9 Dec 2026": the {date} placeholder of intros, outros and captions."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y}"

