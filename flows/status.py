"""Is the warehouse fresh? Compare each venue's last loaded session with the one it should have.

"Should have" follows the schedule: the data is due at the latest tick of the refresh schedule
(default 22:30 UTC Monday-Friday, the `aftershock serve` default) that is at least ``grace`` old,
and at that tick every venue should hold its last session that had closed by then. Sessions come
from `exchange-calendars`, so a holiday (Korea's Lunar New Year, Thanksgiving) never makes a
venue look stale, and a venue that traded while the others were closed does.

A venue is ``stale`` when its newest loaded session is older than the one expected; tickers
lagging behind a fresh venue are listed but do not make it stale (the run that left them behind
ended ``partial`` and says why in ``audit.extract_status``). Datasets: ``prices`` (one item per
ticker) and ``fx`` (one item per currency a venue's listings quote in: a JPY rate is due for
every Tokyo session).

The serving copy (what BI tools read, docs/serving.md) is ``behind`` when the newest run that
committed data could not publish it (``publish_failed``): the warehouse is current, BI is not.

News has no sessions: a news source is ``stale`` when no run fetched it successfully in the
``NEWS_MAX_AGE`` before the data was due (channels that failed in its last fetch are listed,
like lagging tickers). Only sources that were ever fetched are judged (a snapshot run reads
none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

from contracts import ContractError
from transforms.freshness import NEWS_SCHEMA, freshness, news_freshness
from warehouse import status as sql

#: The refresh schedule `aftershock serve` uses by default: after the US close, weekdays.
DEFAULT_CRON = "30 22 * * 1-5"
DEFAULT_TIMEZONE = "UTC"
#: How long a scheduled run may take before its data counts as late.
DEFAULT_GRACE = timedelta(hours=1)


def due_at(now: datetime, cron: str | None = DEFAULT_CRON, timezone: str = DEFAULT_TIMEZONE,
           grace: timedelta = DEFAULT_GRACE) -> datetime:
    """The instant the warehouse should reflect: the latest schedule tick at or before
    ``now - grace`` (or ``now - grace`` itself when there is no schedule, e.g. a crontab)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    limit = now - grace
    if not cron:
        return limit.astimezone(UTC)
    from prefect.server.schemas.schedules import CronSchedule
    from prefect.utilities.asyncutils import run_coro_as_sync

    try:
        schedule = CronSchedule(cron=cron, timezone=timezone)
    except ValueError as exc:
        raise ContractError(f"invalid schedule {cron!r} ({timezone}): "
                            f"{str(exc).splitlines()[-1].strip()}") from None
    for lookback in (timedelta(days=8), timedelta(days=400)):
        ticks = run_coro_as_sync(schedule.get_dates(start=limit - lookback, end=limit))
        if ticks:  # Prefect returns pendulum instants: hand back a plain datetime
            return datetime.fromtimestamp(max(ticks).timestamp(), tz=UTC)
    raise ContractError(f"schedule {cron!r} has no tick in the year before {limit:%Y-%m-%d}")


def exchange_sessions(mics: list[str], start: date, end: date) -> pl.DataFrame:
    """transforms.calendar.exchange_sessions, imported when needed (exchange-calendars takes
    a while to load, and the CLI imports this module for every command)."""
    from transforms.calendar import exchange_sessions as sessions_of

    return sessions_of(mics, start, end)


def expected_sessions(mics: list[str], due: datetime) -> pl.DataFrame:
    """(exchange_mic, expected): each venue's last session whose close is at or before ``due``."""
    due_utc = due.astimezone(UTC)
    sessions = exchange_sessions(mics, (due_utc - timedelta(days=60)).date(),
                                 (due_utc + timedelta(days=1)).date())
    return (
        sessions.filter(pl.col("close_utc") <= due_utc)
        .group_by("exchange_mic")
        .agg(pl.col("session_date").max().alias("expected"))
    )


@dataclass
class StatusReport:
    """What `aftershock status` prints (and returns as JSON)."""

    as_of: datetime
    due: datetime
    schedule: str
    freshness: pl.DataFrame
    runs: pl.DataFrame = field(default_factory=pl.DataFrame)
    quarantine: pl.DataFrame = field(default_factory=pl.DataFrame)
    news: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NEWS_SCHEMA))
    #: the newest run that committed data (warehouse.status.last_load), or None
    last_load: dict | None = None

    @property
    def serving_behind(self) -> bool:
        """True when the newest run that committed data could not publish the serving copy."""
        return bool(self.last_load) and self.last_load["status"] == "publish_failed"

    @property
    def stale(self) -> bool:
        """True when a venue or a news source is behind, the serving copy is behind the
        warehouse, or nothing at all is loaded."""
        states = self.freshness["state"].to_list()
        return ("stale" in states or "fresh" not in states or bool(self.stale_news())
                or self.serving_behind)

    def stale_venues(self) -> list[str]:
        rows = self.freshness.filter(pl.col("state") == "stale")
        return [f"{r['dataset']}/{r['exchange_mic']}" for r in rows.iter_rows(named=True)]

    def stale_news(self) -> list[str]:
        return [f"news/{s}" for s in self.news.filter(pl.col("state") == "stale")["source"]]

    def to_json(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "due": self.due.isoformat(),
            "schedule": self.schedule,
            "stale": self.stale,
            "stale_venues": self.stale_venues(),
            "stale_news": self.stale_news(),
            "serving_behind": self.serving_behind,
            "last_load": self.last_load,
            "freshness": self.freshness.to_dicts(),
            "news": self.news.to_dicts(),
            "runs": self.runs.to_dicts(),
            "quarantine": self.quarantine.to_dicts(),
        }


def build_report(
    con: duckdb.DuckDBPyConnection,
    now: datetime | None = None,
    *,
    cron: str | None = DEFAULT_CRON,
    timezone: str = DEFAULT_TIMEZONE,
    grace: timedelta = DEFAULT_GRACE,
    runs: int = 5,
) -> StatusReport:
    """Freshness per dataset and venue, the last ``runs`` runs and open quarantine."""
    now = now or datetime.now(UTC)
    due = due_at(now, cron, timezone, grace)
    marks = sql.watermarks(con)
    mics = sorted(set(marks["exchange_mic"].to_list()))
    expected = (
        expected_sessions(mics, due) if mics
        else pl.DataFrame(schema={"exchange_mic": pl.String, "expected": pl.Date})
    )
    oldest = marks["last_session"].min()
    sessions = None
    if mics and isinstance(oldest, date):
        sessions = exchange_sessions(mics, oldest, due.date())
    schedule = f"{cron} ({timezone})" if cron else "none"
    return StatusReport(
        as_of=now,
        due=due,
        schedule=schedule,
        freshness=freshness(marks, expected, sessions),
        runs=sql.last_runs(con, runs),
        quarantine=sql.open_quarantine(con),
        news=news_freshness(sql.news_fetches(con), due),
        last_load=sql.last_load(con),
    )
