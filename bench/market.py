"""A synthetic market sized for benchmarks: N securities x Y years, E events, M news items.

The shipped demo (``sources/demo.py``) draws one series per security in a Python loop from a
fixed 2021 epoch, and its news (``sources/news_demo.py``) builds one dict per story; neither
reaches 20 years or 200,000 stories. This generator keeps the demo's model and vocabulary
(segment loadings, event shocks and headline templates are imported from it) but draws the
whole panel in one numpy pass: every price row of every security is one element of a few
flat arrays, and every story one element of the news arrays. No Python loop runs over price
or news rows; the only loops are over the (100) catalog rows and the files written, one per
security.

What it writes into a folder (``write_market``), so every benchmark process reads the same
market and the real CLI can run on it:

* ``prices/<TICKER>.csv``: the snapshot format (``sources.snapshot``), one file per security,
  up to and including the *incremental day* (the last session, which the backfill leaves out);
* ``seeds/universe.csv`` and ``seeds/events.csv``: the security master and the event catalog
  in the shipped seeds' format (they pass the seed suites);
* ``news.parquet``: RAW_NEWS rows (``contracts.news``);
* ``market.json``: the spec and the dates (start, backfill end, incremental day).

The universe is the shipped benchmarks (indices, ETFs, futures) plus copies of the shipped
equities on their own venues, segments and benchmarks (``NVDA``, ``NVDA-B2``, ...). The same
spec gives the same files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from contracts import conform
from contracts.news import RAW_NEWS
from sources.demo import LOADINGS, PRICE_SCALE, SHOCK_CHINA_OPEN, SHOCK_OTHER
from sources.news_base import NewsResult, news_status_frame, status_row
from sources.news_demo import CHATTER, COMPANIES, HOST, NEGATIVE, NEUTRAL, POSITIVE, PUBLISHERS
from transforms import calendar
from warehouse import seeds

#: The demo's event strengths by kind (``sources.demo.KIND_SCALE``, others 0.5).
KIND_SCALE = {"app_launch": 1.6, "model_release": 0.25}
#: Share of the news that is about an event (the rest is daily market chatter).
EVENT_NEWS_SHARE = 0.6
#: Days around an announcement that carry its stories (as ``sources.news_demo.DAYS``).
NEWS_DAYS = (-10, 20)
#: Share of stories carried a second time by another wire (deduplication has work to do).
DUPLICATE_SHARE = 0.1
#: Events are placed no earlier than this: the daily flow builds sessions from 2016
#: (``flows.stages.SESSIONS_FROM``), so an older event would lose its estimation window in a
#: daily run and the backfill's marts and the incremental run's would not be the same study.
EVENTS_FROM = date(2017, 3, 1)


@dataclass(frozen=True)
class MarketSpec:
    """The size of the market and its seed."""

    securities: int = 600
    years: int = 20
    events: int = 100
    news: int = 200_000
    seed: int = 20250127


def default_news(securities: int, years: int) -> int:
    """News items for a size: 200,000 at 600 securities x 20 years, in proportion below."""
    return round(200_000 * securities * years / (600 * 20))


@dataclass(frozen=True)
class MarketDates:
    """``start``: first session drawn; ``backfill_end``: the backfill's last day;
    ``incremental_day``: the next day, a session on every venue of the universe."""

    start: date
    backfill_end: date
    incremental_day: date


def universe(n: int) -> pl.DataFrame:
    """The shipped benchmarks plus copies of the shipped equities, ``n`` rows in all."""
    shipped = seeds.read_universe()
    bench = shipped.filter(pl.col("segment") == "benchmark")
    equities = shipped.filter(pl.col("segment") != "benchmark")
    wanted = n - bench.height
    if wanted < 1:
        raise ValueError(f"--securities must be more than the {bench.height} benchmarks")
    copy = np.arange(wanted) // equities.height + 1  # 1 = the shipped ticker itself
    picked = equities[np.arange(wanted) % equities.height].with_columns(
        copy=pl.Series(copy))
    clones = picked.with_columns(
        ticker=pl.when(pl.col("copy") == 1).then(pl.col("ticker"))
        .otherwise(pl.col("ticker") + "-B" + pl.col("copy").cast(pl.String)),
        name=pl.when(pl.col("copy") == 1).then(pl.col("name"))
        .otherwise(pl.col("name") + " (bench copy " + pl.col("copy").cast(pl.String) + ")"),
    ).drop("copy")
    return pl.concat([bench, clones]).select(shipped.columns)


def market_dates(spec: MarketSpec, securities: pl.DataFrame, today: date) -> MarketDates:
    """The incremental day is the latest day before ``today`` on which every venue trades."""
    mics = securities["exchange_mic"].unique().to_list()
    recent = calendar.exchange_sessions(mics, today - timedelta(days=60), today)
    full = (recent.filter(pl.col("session_date") < today)
            .group_by("session_date").agg(pl.col("exchange_mic").n_unique())
            .filter(pl.col("exchange_mic") == len(mics)))
    day = full["session_date"].max()
    start = date(day.year - spec.years, day.month, min(day.day, 28)) + timedelta(days=1)
    return MarketDates(start=start, backfill_end=day - timedelta(days=1), incremental_day=day)


def catalog(spec: MarketSpec, dates: MarketDates) -> pl.DataFrame:
    """``spec.events`` synthetic events in the seed format, spread evenly over the span
    (labs, countries and kinds drawn from the shipped catalog)."""
    shipped = seeds.read_events()
    rng = np.random.default_rng(spec.seed + 1)
    first = max(dates.start + timedelta(days=420), EVENTS_FROM)
    last = dates.backfill_end - timedelta(days=40)
    if last <= first:
        raise ValueError("--years is too short for an estimation window before the events")
    days = np.linspace(0, (last - first).days, spec.events).round().astype(int)
    pick = rng.integers(0, shipped.height, spec.events)
    rows = shipped[pick]
    times = rng.integers(0, 24 * 60, spec.events)
    timed = rng.random(spec.events) < 0.7
    k = np.arange(1, spec.events + 1)
    return pl.DataFrame({
        "event_id": [f"bench-{i:03d}" for i in k],
        "name": [f"Benchmodel-{i}" for i in k],  # a name detection knows
        "lab": rows["lab"],
        "kind": rows["kind"],
        "announced_date": [str(first + timedelta(days=int(d))) for d in days],
        "announced_time_utc": [f"{t // 60:02d}:{t % 60:02d}" if ok else ""
                               for t, ok in zip(times, timed, strict=True)],
        "open_weights": rows["open_weights"],
        "lab_country": rows["lab_country"],
        "source_url": "",
    }).select(list(seeds.EVENT_SEED))


def _loadings(securities: pl.DataFrame) -> pl.DataFrame:
    """beta_m, beta_ai, vol per security (the demo's segment loadings)."""
    table = pl.DataFrame(
        [{"segment": s, "beta_m": m, "beta_ai": a, "vol": v} for s, (m, a, v) in LOADINGS.items()])
    return securities.join(table, on="segment", how="left").with_columns(
        pl.col("beta_m").fill_null(1.0), pl.col("beta_ai").fill_null(0.5),
        pl.col("vol").fill_null(0.02))


def _shocks(events: pl.DataFrame, day0: pl.DataFrame, seed: int) -> pl.DataFrame:
    """(exchange_mic, session_date, segment, shock): the demo's day-0 effects, summed."""
    rows = [{"china_open": flag, "segment": seg, "base": table[seg]}
            for flag, table in ((True, SHOCK_CHINA_OPEN), (False, SHOCK_OTHER)) for seg in table]
    rng = np.random.default_rng(seed + 2)
    ev = events.select(
        "event_id", china_open=pl.col("lab_country") == "CN",
        scale=pl.col("kind").replace_strict(KIND_SCALE, default=0.5, return_dtype=pl.Float64),
    ).with_columns(strength=pl.Series(rng.uniform(0.75, 1.25, events.height)))
    return (
        day0.join(ev, on="event_id").join(pl.DataFrame(rows), on="china_open")
        .with_columns(shock=pl.col("base") * pl.col("scale") * pl.col("strength"))
        .sort("exchange_mic", "day0", "segment", "event_id")
        .group_by("exchange_mic", pl.col("day0").alias("session_date"), "segment")
        .agg(pl.col("shock").sum())
    )


def prices(spec: MarketSpec, securities: pl.DataFrame, sessions: pl.DataFrame,
           day0: pl.DataFrame, events: pl.DataFrame, dates: MarketDates) -> pl.DataFrame:
    """Every session of every security from ``dates.start`` to the incremental day, in one
    vectorised draw: market and AI factors per calendar day, idiosyncratic noise per row,
    the events' day-0 shocks, OHLC and volume as the demo builds them (with its planted
    defects: a close above the high about once in 1,500 rows, a stale zero-volume row)."""
    rng = np.random.default_rng(spec.seed)
    n_days = (dates.incremental_day - dates.start).days + 1
    mkt = rng.normal(0.0004, 0.010, n_days)
    ai = rng.normal(0.0004, 0.013, n_days)
    secs = _loadings(securities).with_row_index("sec")
    p0 = rng.uniform(20.0, 400.0, secs.height) * secs["currency"].replace_strict(
        PRICE_SCALE, default=1.0, return_dtype=pl.Float64).to_numpy()
    base_volume = rng.uniform(2e6, 6e7, secs.height)
    grid = sessions.filter(
        pl.col("session_date").is_between(dates.start, dates.incremental_day)
    ).select("exchange_mic", "session_date")
    long = (
        secs.select("sec", "ticker", "exchange_mic", "segment")
        .join(grid, on="exchange_mic")
        .join(_shocks(events, day0, spec.seed), on=["exchange_mic", "session_date", "segment"],
              how="left")
        .sort("sec", "session_date")
        .with_columns(offset=(pl.col("session_date") - pl.lit(dates.start)).dt.total_days())
    )
    n = long.height
    sec = long["sec"].to_numpy()
    off = long["offset"].to_numpy()
    shock = long["shock"].fill_null(0.0).to_numpy()
    beta_m, beta_ai, vol = (secs[c].to_numpy()[sec] for c in ("beta_m", "beta_ai", "vol"))
    noise = rng.standard_normal((5, n))
    ret = beta_m * mkt[off] + beta_ai * ai[off] + vol * noise[0] + shock * (1 + 0.3 * noise[1])
    first = np.r_[True, sec[1:] != sec[:-1]]  # each security's first row
    growth = np.cumsum(np.log1p(ret))
    start_growth = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    close = p0[sec] * np.exp(growth - growth[start_growth] + np.log1p(ret[start_growth]))
    prev = np.where(first, p0[sec], np.r_[p0[0], close[:-1]])
    open_ = prev * (1.0 + 0.3 * vol * noise[1])
    high = np.maximum(open_, close) * (1.0 + np.abs(0.4 * vol * noise[2]))
    low = np.minimum(open_, close) * (1.0 - np.abs(0.4 * vol * noise[3]))
    volume = np.round(base_volume[sec] * np.exp(0.25 * noise[4]) * (1.0 + 25.0 * np.abs(shock)))
    # (none on the incremental day, so that day's run has one new session per security)
    last = (long["session_date"] == dates.incremental_day).to_numpy()
    defect = (np.abs(noise[4]) > 3.2) & ~first & ~last
    stale = (np.abs(noise[3]) > 3.3) & ~defect & ~last
    high = np.where(defect, close * 0.995, high)
    open_, high, low = (np.where(stale, close, a) for a in (open_, high, low))
    volume = np.where(stale, 0.0, volume)
    return long.select("ticker", "session_date").with_columns(
        open=open_, high=high, low=low, close=close, volume=volume)


def news(spec: MarketSpec, events: pl.DataFrame, dates: MarketDates,
         fetched_at: datetime) -> pl.DataFrame:
    """``spec.news`` RAW_NEWS rows: bursts around each event (decaying after day 0, in the
    tone of its shock) and daily chatter, with a share carried twice by different wires."""
    rng = np.random.default_rng(spec.seed + 3)
    n_copies = int(spec.news * DUPLICATE_SHARE)
    n_first = spec.news - n_copies
    n_event = int(n_first * EVENT_NEWS_SHARE)
    n_chat = n_first - n_event
    ev = events.sort("event_id")
    kind_w = ev["kind"].replace_strict({"app_launch": 3.0, "model_release": 1.0}, default=0.6,
                                       return_dtype=pl.Float64).to_numpy()
    which = rng.choice(ev.height, n_event, p=kind_w / kind_w.sum())
    offsets = np.arange(NEWS_DAYS[0], NEWS_DAYS[1] + 1)
    profile = np.where(offsets < 0, 0.3, 1.0 + 8.0 * np.exp(-np.maximum(offsets, 0) / 1.5))
    day_off = rng.choice(offsets, n_event, p=profile / profile.sum())
    scare = (ev["lab_country"] == "CN").to_numpy() & (
        ev["open_weights"] | (ev["kind"] == "app_launch")).to_numpy()
    tone = rng.random(n_event)
    groups = [NEGATIVE, POSITIVE, NEUTRAL, CHATTER]
    templates = [t for g in groups for t in g]
    base = np.cumsum([0] + [len(g) for g in groups])
    group = np.where(day_off < 0, 2, np.where(tone < 0.55, np.where(scare[which], 0, 1), 2))
    sizes = np.array([len(g) for g in groups])
    tmpl = base[group] + rng.integers(0, sizes[group])
    announced = ev["announced_date"].to_numpy().astype("datetime64[D]")
    ev_day = announced[which] + day_off.astype("timedelta64[D]")
    span = (dates.backfill_end - dates.start).days + 1
    chat_day = (np.datetime64(dates.start, "D")
                + rng.integers(0, span, n_chat).astype("timedelta64[D]"))
    chat_tmpl = base[3] + rng.integers(0, sizes[3], n_chat)
    day = np.concatenate([ev_day, chat_day])
    at = (day.astype("datetime64[s]") + rng.integers(0, 86_400, n_first).astype("timedelta64[s]")
          ).astype("datetime64[us]")
    model = ev["name"].to_numpy()
    wires = np.array(["wire", "markets", "tech"])
    wire = np.concatenate([rng.integers(0, 3, n_event), np.ones(n_chat, dtype=int)])
    first = pl.DataFrame({
        "n": np.arange(n_first),
        "template": np.array(templates)[np.concatenate([tmpl, chat_tmpl])],
        "company": np.array(COMPANIES)[rng.integers(0, len(COMPANIES), n_first)],
        "model": np.concatenate([model[which], np.full(n_chat, "", dtype=object)]),
        "lab": np.concatenate([ev["lab"].to_numpy()[which], np.full(n_chat, "", dtype=object)]),
        "at": at,
        "wire": wires[wire],
    })
    dup = first.sample(n_copies, seed=spec.seed, with_replacement=n_copies > n_first)
    copies = dup.with_columns(
        wire=pl.col("wire").replace_strict({"wire": "markets", "markets": "tech",
                                            "tech": "wire"}),
        at=pl.col("at") + pl.duration(hours=pl.Series(rng.integers(1, 12, n_copies))),
        copy=pl.lit(True),
    )
    rows = pl.concat([first.with_columns(copy=pl.lit(False)), copies])
    title = (pl.col("template").str.replace_all("{company}", pl.col("company"), literal=True)
             .str.replace_all("{model}", pl.col("model"), literal=True)
             .str.replace_all("{lab}", pl.col("lab"), literal=True))
    at_utc = pl.col("at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    frame = rows.with_columns(title=title, at=at_utc).select(
        source=pl.lit("bench"),
        channel=pl.lit("bench:") + pl.col("wire"),
        item_id=pl.format("bench-{}{}", "n", pl.when("copy").then(pl.lit("-b"))
                          .otherwise(pl.lit(""))),
        title="title",
        summary=pl.col("title") + ". Synthetic benchmark story.",
        url=pl.format("{}/{}/{}/story-{}", pl.lit(HOST), "wire",
                      pl.col("at").dt.strftime("%Y/%m/%d"), "n")
        + pl.when("copy").then(pl.lit("?utm_source=bench")).otherwise(pl.lit("")),
        publisher=pl.col("wire").replace_strict(PUBLISHERS),
        published_raw=pl.col("at").dt.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        published_at="at",
        related_tickers=pl.lit([], dtype=pl.List(pl.String)),
        fetched_at=pl.lit(fetched_at).cast(RAW_NEWS["fetched_at"]),
    )
    return conform(frame, RAW_NEWS, "bench")


class BenchNewsSource:
    """The generated news as a news source (``sources.news_base.NewsSource``)."""

    name = "bench"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def news(self, start: datetime, end: datetime) -> NewsResult:
        frame = pl.read_parquet(self.path).filter(
            pl.col("published_at").is_between(start, end) | pl.col("published_at").is_null())
        statuses = [status_row("bench", f"bench:{w}", "ok", n, "synthetic benchmark news")
                    for w, n in frame.group_by("channel").len().sort("channel").iter_rows()]
        return NewsResult(frame=frame, status=news_status_frame(statuses))


def write_market(folder: Path, spec: MarketSpec, today: date | None = None) -> dict:
    """Generate the market into ``folder`` (see the module docstring); returns market.json."""
    folder = Path(folder)
    (folder / "prices").mkdir(parents=True, exist_ok=True)
    (folder / "seeds").mkdir(exist_ok=True)
    today = today or datetime.now(UTC).date()
    securities = universe(spec.securities)
    dates = market_dates(spec, securities, today)
    seed_events = catalog(spec, dates)
    securities.write_csv(folder / "seeds" / "universe.csv")
    seed_events.write_csv(folder / "seeds" / "events.csv")
    events = calendar.events_to_core(seed_events)
    sessions = calendar.exchange_sessions(securities["exchange_mic"].unique().to_list(),
                                          dates.start, dates.incremental_day + timedelta(45))
    day0 = calendar.event_day0(events, sessions)
    panel = prices(spec, securities, sessions, day0, events, dates)
    for (ticker,), part in panel.partition_by("ticker", as_dict=True).items():
        part.select(pl.col("session_date").alias("date"), "open", "high", "low", "close",
                    "volume").write_csv(folder / "prices" / f"{ticker}.csv")
    stories = news(spec, events, dates,
                   datetime.combine(dates.incremental_day, datetime.min.time(), UTC))
    stories.write_parquet(folder / "news.parquet")
    meta = {
        "spec": asdict(spec),
        "dates": {k: str(v) for k, v in asdict(dates).items()},
        "price_rows": panel.height,
        "backfill_rows": panel.filter(pl.col("session_date") <= dates.backfill_end).height,
        "news_rows": stories.height,
        "securities": securities.height,
        "events": seed_events.height,
    }
    (folder / "market.json").write_text(json.dumps(meta, indent=1))
    return meta


def read_meta(folder: Path) -> dict:
    """market.json of a generated market, with its dates parsed."""
    meta = json.loads((Path(folder) / "market.json").read_text())
    meta["dates"] = MarketDates(**{k: date.fromisoformat(v) for k, v in meta["dates"].items()})
    return meta
