"""Deterministic synthetic news matching the demo market's events (``source='demo'``).

For every catalog event the demo writes the stories a real news flow would carry around it,
from 10 days before to 20 days after the announcement: a burst on the day (decaying over the
following days) naming the lab and the model, in the tone of the demo market's shock (a
Chinese open-weights release is a scare for the AI supply chain, anything else a small
rally), plus a little market chatter every day. An app launch is the biggest story of all and
names the lab's latest model, so DeepSeek-R1's attention peaks on 2025-01-27, with the app,
as it did in the real world. The same seed gives the same stories (titles, times, URLs).

Like the demo market, it plants defects real feeds have, for the quality gates to catch: the
same story on two wires (different URLs, same title, hours apart), tracking parameters, HTML
and entities in titles, an undated item, a title with nothing left once its markup is gone.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl

from sources.news_base import NewsResult, news_frame, news_status_frame, status_row

SOURCE = "demo"
HOST = "https://news.demo.aftershock.invalid"
WIRES = ("wire", "markets", "tech")
PUBLISHERS = {"wire": "Demo Wire", "markets": "Demo Markets Daily", "tech": "Demo Tech Review"}
DAYS = (-10, 20)

#: Companies named in the demo headlines (display names the entity tagger knows).
COMPANIES = ("Nvidia", "Broadcom", "TSMC", "AMD", "Micron", "ASML", "Vertiv",
             "Constellation Energy", "Super Micro", "Arista Networks", "SK Hynix", "Oracle")
NEGATIVE = (
    "{company} shares plunge as {model} rattles AI trade",
    "{company} sinks as {lab}'s {model} raises doubts over AI spending",
    "Chip stocks tumble after {lab} releases {model}",
    "{company} slumps as investors fear cheaper AI after {model}",
    "AI stocks sell off as {model} sparks efficiency fears; {company} drops",
)
POSITIVE = (
    "{company} rallies as {model} launch fuels AI demand",
    "{lab} unveils {model}; {company} and AI chip stocks climb",
    "{company} gains as {model} lifts hopes for AI spending",
    "AI trade rallies after {lab} launches {model}",
)
NEUTRAL = (
    "{lab} releases {model}",
    "What {model} means for investors",
    "{lab} publishes {model} technical details",
    "Here's how {model} compares with rival models",
)
CHATTER = (
    "Stocks to watch today: {company}",
    "{company} to present at technology conference",
    "Markets await inflation data as {company} trades flat",
    "Analysts weigh outlook for {company}",
)


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _slug(text: str) -> str:
    return "-".join("".join(c.lower() if c.isalnum() else " " for c in text).split())[:60]


class DemoNewsSource:
    """Synthetic news for the events it is given (``contracts.EVENTS`` frame)."""

    name = SOURCE

    def __init__(
        self,
        events: pl.DataFrame,
        seed: int = 20250127,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.events = events.sort("announced_at", "event_id")
        self.seed = seed
        self.clock = clock or (lambda: datetime.now(UTC))

    def news(self, start: datetime, end: datetime) -> NewsResult:
        fetched_at = self.clock()
        rows = [r for r in self._all_rows(fetched_at)
                if r["published_at"] is None or start <= r["published_at"] <= end]
        statuses = []
        for wire in WIRES:
            n = sum(1 for r in rows if r["channel"] == f"{SOURCE}:{wire}")
            statuses.append(status_row(SOURCE, f"{SOURCE}:{wire}", "ok" if n else "empty", n,
                                       "synthetic news"))
        return NewsResult(frame=news_frame(rows, SOURCE), status=news_status_frame(statuses))

    # -- generation ------------------------------------------------------------------------

    def _all_rows(self, fetched_at: datetime) -> list[dict]:
        rows: list[dict] = []
        days: set[date] = set()
        for event in self.events.iter_rows(named=True):
            rows += self._event_rows(event, fetched_at)
            day = event["announced_date"]
            days |= {day + timedelta(days=d) for d in range(DAYS[0], DAYS[1] + 1)}
        for day in sorted(days):
            rows += self._chatter(day, fetched_at)
        return rows

    def _model_name(self, event: dict) -> str:
        if event["kind"] == "app_launch":
            earlier = self.events.filter(
                (pl.col("lab") == event["lab"]) & (pl.col("kind") == "model_release")
                & (pl.col("announced_at") < event["announced_at"])
                & (pl.col("announced_at") >= event["announced_at"] - timedelta(days=30))
            )
            if earlier.height:
                return _display_name(earlier.row(-1, named=True)["name"])
        return _display_name(event["name"])

    def _event_rows(self, event: dict, fetched_at: datetime) -> list[dict]:
        rng = np.random.default_rng(_seed(self.seed, "news", event["event_id"]))
        model = self._model_name(event)
        lab = event["lab"].split(" (")[0]
        scare = event["lab_country"] == "CN" and (event["open_weights"] or
                                                  event["kind"] == "app_launch")
        scale = {"app_launch": 3.0, "model_release": 1.0}.get(event["kind"], 0.6)
        rows: list[dict] = []
        for offset in range(DAYS[0], DAYS[1] + 1):
            day = event["announced_date"] + timedelta(days=offset)
            if offset < 0:
                expected = 0.3
            else:
                expected = 1.0 + 8.0 * scale * float(np.exp(-offset / 1.5))
            for n in range(int(rng.poisson(expected))):
                tone = rng.random()
                if offset < 0:
                    templates = NEUTRAL
                elif tone < 0.55:
                    templates = NEGATIVE if scare else POSITIVE
                else:
                    templates = NEUTRAL
                title = templates[int(rng.integers(len(templates)))].format(
                    company=COMPANIES[int(rng.integers(len(COMPANIES)))], model=model, lab=lab
                )
                at = datetime.combine(day, time(int(rng.integers(24)), int(rng.integers(60))),
                                      UTC)
                wire = WIRES[int(rng.integers(len(WIRES)))]
                url = f"{HOST}/{wire}/{day:%Y/%m/%d}/{_slug(title)}-{event['event_id']}-{n}"
                rows.append(_row(wire, f"{event['event_id']}-{offset}-{n}", title, url, at,
                                 fetched_at, lab, model))
                if rng.random() < 0.2:  # the same story on another wire a few hours later
                    other = WIRES[(WIRES.index(wire) + 1) % len(WIRES)]
                    later = at + timedelta(hours=int(rng.integers(1, 12)))
                    rows.append(_row(other, f"{event['event_id']}-{offset}-{n}-b", title,
                                     url.replace(f"/{wire}/", f"/{other}/")
                                     + "?utm_source=demo&utm_medium=rss",
                                     later, fetched_at, lab, model))
        if rows:  # planted defects, one of each at most per event
            pick = rng.random()
            first = rows[0]
            if pick < 0.15:
                first["title"] = first["title"].replace(model, f"<b>{model}</b>") + " &amp; more"
            elif pick < 0.25:
                first["published_at"] = None  # undated: dated by its fetch time, flagged
                first["published_raw"] = None
            elif pick < 0.30:
                first["title"] = "<script>track()</script><img src=x>"  # nothing left: rejected
        return rows

    def _chatter(self, day: date, fetched_at: datetime) -> list[dict]:
        rng = np.random.default_rng(_seed(self.seed, "chatter", day.isoformat()))
        rows = []
        for n in range(int(rng.poisson(2.0))):
            title = CHATTER[int(rng.integers(len(CHATTER)))].format(
                company=COMPANIES[int(rng.integers(len(COMPANIES)))]
            )
            at = datetime.combine(day, time(int(rng.integers(24)), int(rng.integers(60))), UTC)
            url = f"{HOST}/markets/{day:%Y/%m/%d}/{_slug(title)}-{n}"
            rows.append(_row("markets", f"chatter-{day}-{n}", title, url, at, fetched_at,
                             None, None))
        return rows


def _display_name(name: str) -> str:
    """'DeepSeek-R1 reasoning model' -> 'DeepSeek-R1'; 'Claude 3 family (Opus, ...)' ->
    'Claude 3 family'."""
    short = name.split(" (")[0].split(":")[0]
    for tail in (" reasoning model", " open model family", " research release",
                 " small language models", " open models", " (livestream launch)"):
        short = short.removesuffix(tail)
    return short


def _row(wire: str, item_id: str, title: str, url: str, at: datetime | None,
         fetched_at: datetime, lab: str | None, model: str | None) -> dict:
    summary = f"{title}. Synthetic demo story" + (f" about {lab} and {model}." if lab else ".")
    return {
        "source": SOURCE,
        "channel": f"{SOURCE}:{wire}",
        "item_id": item_id,
        "title": title,
        "summary": summary,
        "url": url,
        "publisher": PUBLISHERS[wire],
        "published_raw": at.strftime("%a, %d %b %Y %H:%M:%S +0000") if at else None,
        "published_at": at,
        "related_tickers": [],
        "fetched_at": fetched_at,
    }
