"""The X budget: what each account counted as X has spent this calendar month, and whether a thread fits.

X's API is pay-per-use. A campaign's ``x_monthly_budget`` caps what an account may have spent in the calendar
month (in the schedule's timezone) once a thread is posted; the cost of each part is estimated when it is
queued (``platforms.x.post_cost``) and counted when it is posted. Outbox accounts with ``like = "x"`` are
counted too, so a budget can be tried without spending anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from publisher.config import Schedule
from publisher.platforms import PlatformKind, counted_as
from publisher.store import PartRow, Store, ThreadRow

UNSENT = ("pending", "failed")  # a part in any other state is posted, or may be: spent() counts it


def part_cost(part: PartRow, pricing: PlatformKind | None = None) -> float:
    """What posting the part costs (or cost): as estimated when it was queued, else estimated now by the platform
    that prices it (a part queued before publisher kept costs, or before its account was counted as X)."""
    if part.cost is not None:
        return part.cost
    return (pricing.cost(part.text, len(part.images)) if pricing is not None else None) or 0.0


def spent(store: Store, account: str, since: datetime, pricing: PlatformKind | None = None) -> float:
    """What the account's posts since ``since`` cost (a part sent with no answer yet counts: X may have taken it),
    and reading their figures (``publisher results``)."""
    return sum(part_cost(p, pricing) for p in store.charged_parts(account, since)) + store.reading_spend(account, since)


def usd(amount: float) -> str:
    """Dollars to the cent, rounding half up ($0.075 is $0.08), whatever float noise a sum has picked up."""
    cents = Decimal(str(round(amount, 6))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${cents}"


def month_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """The first instant of the calendar month ``moment`` falls in, in ``zone``."""
    local = moment.astimezone(zone)
    return datetime(local.year, local.month, 1, tzinfo=zone).astimezone(UTC)


def next_month_start(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)


def paying_accounts(schedule: Schedule) -> dict[str, PlatformKind]:
    """The accounts whose posts cost money (X accounts, and outboxes imitating X), with the platform pricing
    them."""
    return {name: pricing for name, account in schedule.accounts.items()
            if (pricing := counted_as(account)).costs_money}


@dataclass(frozen=True)
class OverBudget:
    account: str
    spent: float
    cost: float
    budget: float
    under_way: float = 0.0  # still to post from threads already started

    def __str__(self) -> str:
        more = f" (and {usd(self.under_way)} more is due from threads already under way)" if self.under_way else ""
        return (f"{self.account} has spent {usd(self.spent)} on X this month{more} and this thread costs "
                f"{usd(self.cost)}: over the campaign's x_monthly_budget of {usd(self.budget)}")


@dataclass
class Budgets:
    """Each campaign's monthly X budget, for the poster to check before a thread starts."""

    limits: dict[str, float]
    accounts: dict[str, PlatformKind]  # the paying accounts, and the platform pricing each
    zone: ZoneInfo

    @classmethod
    def from_schedule(cls, schedule: Schedule) -> Budgets:
        limits = {c.name: c.x_monthly_budget for c in schedule.campaigns if c.x_monthly_budget is not None}
        return cls(limits, paying_accounts(schedule), schedule.zone)

    def check(self, store: Store, thread: ThreadRow, now: datetime) -> OverBudget | None:
        """The first account the thread would take over its campaign's budget, or None if it fits."""
        budget = self.limits.get(thread.campaign)
        if budget is None:
            return None
        since = month_start(now, self.zone)
        parts = store.parts(thread.id)
        for account in dict.fromkeys(p.account for p in parts if p.account in self.accounts):
            pricing = self.accounts[account]
            cost = sum(part_cost(p, pricing) for p in parts if p.account == account and p.state in UNSENT)
            done = spent(store, account, since, pricing)
            under_way = sum(part_cost(p, pricing) for p in store.unsent_parts(account, started_only=True,
                                                                               exclude_thread=thread.id))
            if done + under_way + cost > budget + 1e-9:
                return OverBudget(account, done, cost, budget, under_way)
        return None


@dataclass
class SpendForecast:
    """Running totals per account and calendar month for threads not posted yet, starting from what the store
    says is spent and already queued: does the next thread still fit?"""

    store: Store
    zone: ZoneInfo
    now: datetime
    _totals: dict[tuple[str, datetime], float] = field(default_factory=dict)

    def add(self, account: str, due: datetime, cost: float) -> float:
        """Count a thread's cost in the month it is due; returns that month's projected total."""
        month = month_start(max(due, self.now), self.zone)
        key = (account, month)
        if key not in self._totals:
            already = spent(self.store, account, month) if month <= self.now else 0.0
            queued = self.store.unsent_parts(account, month, next_month_start(month, self.zone))
            self._totals[key] = already + sum(part_cost(p) for p in queued)
        self._totals[key] += cost
        return self._totals[key]
