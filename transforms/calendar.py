"""Exchange sessions and each event's day 0 per exchange.

Day 0 of an event on an exchange is the first session of that exchange whose close (UTC) comes
after the announcement instant. A date-only announcement counts from midnight in the lab's
country. Sessions come from `exchange-calendars` (pure rules, no I/O), keyed by the venue MIC.
"""

from __future__ import annotations

from datetime import date

import exchange_calendars as xcals
import numpy as np
import polars as pl

from contracts import EVENTS, EXCHANGE_CALENDAR, ContractError

#: Representative time zone of a lab's country, for date-only announcements. US labs are
#: overwhelmingly in California, so a date-only US announcement counts from Pacific midnight.
LAB_TIMEZONE: dict[str, str] = {
    "US": "America/Los_Angeles",
    "CN": "Asia/Shanghai",
    "HK": "Asia/Hong_Kong",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "CA": "America/Toronto",
    "IL": "Asia/Jerusalem",
    "AE": "Asia/Dubai",
    "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul",
    "TW": "Asia/Taipei",
    "IN": "Asia/Kolkata",
    "SG": "Asia/Singapore",
}

SESSIONS: dict[str, pl.DataType] = {
    "exchange_mic": pl.String(),
    "session_date": pl.Date(),
    "session_idx": pl.Int64(),
    "open_utc": pl.Datetime("us", "UTC"),
    "close_utc": pl.Datetime("us", "UTC"),
}


def calendar_code(mic: str) -> str:
    """The exchange-calendars code for a venue MIC, or a clear error."""
    try:
        return EXCHANGE_CALENDAR[mic]
    except KeyError:
        raise ContractError(f"exchange MIC {mic!r} has no known trading calendar") from None


def exchange_sessions(mics: list[str], start: date, end: date) -> pl.DataFrame:
    """Sessions of every venue in ``mics`` between ``start`` and ``end`` (inclusive).

    ``session_idx`` numbers the sessions of the venue's calendar consecutively from ``start``,
    so "the previous session" and "250 sessions before day 0" are integer arithmetic.
    """
    frames = []
    for mic in sorted(set(mics)):  # one calendar per venue, not per row
        cal = xcals.get_calendar(calendar_code(mic))
        lo = max(start, cal.first_session.date())
        hi = min(end, cal.last_session.date())
        sched = cal.schedule.loc[str(lo) : str(hi)]
        frames.append(
            pl.DataFrame(
                {
                    "session_date": sched.index.to_numpy().astype("datetime64[D]"),
                    "open_utc": sched["open"].dt.tz_convert(None).to_numpy(),
                    "close_utc": sched["close"].dt.tz_convert(None).to_numpy(),
                }
            ).with_columns(
                exchange_mic=pl.lit(mic),
                session_idx=pl.int_range(pl.len(), dtype=pl.Int64),
            )
        )
    if not frames:
        return pl.DataFrame(schema=SESSIONS)
    return pl.concat(frames).select(
        pl.col(c).dt.replace_time_zone("UTC").cast(t) if c.endswith("_utc") else pl.col(c).cast(t)
        for c, t in SESSIONS.items()
    )


def events_to_core(seed: pl.DataFrame) -> pl.DataFrame:
    """The event catalog seed into the EVENTS contract (announcement instant in UTC).

    ``announced_time_utc`` (HH:MM) gives minute precision; without it the instant is the lab's
    local midnight on ``announced_date``. The seed suite (``expectations.events``) has judged
    the seed; a row it would refuse (a date that does not parse, a lab country with no time
    zone) is kept with a null instant, never dropped.
    """
    seed = seed.with_columns(pl.col("announced_time_utc").cast(pl.String))
    if seed.schema["announced_date"] == pl.String:
        seed = seed.with_columns(pl.col("announced_date").str.to_date("%Y-%m-%d", strict=False))
    day = pl.col("announced_date")
    timed = pl.col("announced_time_utc").is_not_null() & (pl.col("announced_time_utc") != "")
    # the UTC time of day on the UTC date that makes the lab-local date equal announced_date
    naive = (
        day.cast(pl.Datetime("us"))
        + pl.col("announced_time_utc").str.to_time("%H:%M", strict=False).cast(pl.Duration("us"))
    ).dt.replace_time_zone("UTC")
    frames = []
    for country, tz in LAB_TIMEZONE.items():  # one expression per time zone, not per row
        part = seed.filter(pl.col("lab_country") == country)
        if part.height == 0:
            continue
        local_day = naive.dt.convert_time_zone(tz).dt.date()
        frames.append(
            part.with_columns(
                _midnight=day.cast(pl.Datetime("us"))
                .dt.replace_time_zone(tz)
                .dt.convert_time_zone("UTC"),
                _timed=naive
                + pl.duration(days=(day - local_day).dt.total_days()),
            )
        )
    no_instant = pl.lit(None, pl.Datetime("us", "UTC"))
    frames.append(seed.filter(~pl.col("lab_country").is_in(list(LAB_TIMEZONE))
                              | pl.col("lab_country").is_null())
                  .with_columns(_midnight=no_instant, _timed=no_instant))
    return (
        pl.concat([f.with_columns(pl.col("_midnight", "_timed").cast(pl.Datetime("us", "UTC")))
                   for f in frames])
        .with_columns(
            announced_at=pl.when(timed).then(pl.col("_timed")).otherwise(pl.col("_midnight")),
            announced_precision=pl.when(timed).then(pl.lit("minute")).otherwise(pl.lit("date")),
            open_weights=pl.col("open_weights").cast(pl.String).str.to_lowercase() == "true",
        )
        .select(pl.col(c).cast(t) for c, t in EVENTS.items())
        .sort("announced_at", "event_id", nulls_last=True)
    )


def event_day0(events: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Day 0 of every event on every venue in ``sessions``.

    Columns: event_id, exchange_mic, day0, day0_idx, day0_close_utc, closed_market. An event
    after the last known session has no row. ``closed_market`` is true when a weekday between
    the announcement's local date on that venue and day 0 was not a session (a holiday or
    closure pushed day 0 later than an ordinary weekday would have).
    """
    ev = events.select("event_id", "announced_at").sort("announced_at")
    frames = []
    for mic, sess in sessions.sort("close_utc").group_by("exchange_mic", maintain_order=True):
        hit = ev.join_asof(
            sess.select(
                pl.col("close_utc").alias("announced_at_key"),
                "close_utc",
                "session_date",
                "session_idx",
            ),
            left_on="announced_at",
            right_on="announced_at_key",
            strategy="forward",
            allow_exact_matches=False,
        ).drop_nulls("session_idx")
        tz = xcals.get_calendar(calendar_code(mic[0])).tz.key
        local_date = pl.col("announced_at").dt.convert_time_zone(tz).dt.date()
        # index of the first session on or after the announcement's local date
        first_on_or_after = hit.with_columns(_local=local_date).sort("_local").join_asof(
            sess.select(pl.col("session_date").alias("_local"), pl.col("session_idx").alias("_i0")),
            on="_local",
            strategy="forward",
        )
        frames.append(
            first_on_or_after.with_columns(exchange_mic=pl.lit(mic[0]))
        )
    if not frames:
        return pl.DataFrame(
            schema={
                "event_id": pl.String(),
                "exchange_mic": pl.String(),
                "day0": pl.Date(),
                "day0_idx": pl.Int64(),
                "day0_close_utc": pl.Datetime("us", "UTC"),
                "closed_market": pl.Boolean(),
            }
        )
    out = pl.concat(frames)
    weekdays = np.busday_count(
        out["_local"].to_numpy().astype("datetime64[D]"),
        out["session_date"].to_numpy().astype("datetime64[D]"),
    )
    return (
        out.with_columns(_weekdays=pl.Series(weekdays, dtype=pl.Int64))
        .with_columns(
            closed_market=(
                pl.col("_weekdays") > (pl.col("session_idx") - pl.col("_i0"))
            ).fill_null(False)
        )
        .select(
            "event_id",
            "exchange_mic",
            pl.col("session_date").alias("day0"),
            pl.col("session_idx").alias("day0_idx"),
            pl.col("close_utc").alias("day0_close_utc"),
            "closed_market",
        )
        .sort("event_id", "exchange_mic")
    )
