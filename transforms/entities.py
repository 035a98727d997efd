"""Entity tagging: which tickers, labs and models a story names (CLEAN/CORE news -> NEWS_ENTITY).

Pure polars. The alias table (``contracts.news.ENTITY_ALIASES``) is built by
:func:`build_aliases` from the seeds: the security master (company names with their legal
suffixes removed, bare symbols), the event catalog (labs), and the curated aliases of
``warehouse/seeds/feeds.toml`` (``[entities]``: "TSMC", "Taiwan Semiconductor", model names).

Matching rules:

* **Word boundaries** on both sides of every alias (``\\b``, Unicode-aware): "arms race" is not
  "Arm", "metadata" is not "Meta", "GPT-4o" is not "GPT-4".
* **Case.** An alias is matched case-insensitively unless it is *case-sensitive*: a single
  word of at most four characters ("Arm", "Meta", "KLA", "o1"), or one listed in the seeds'
  ``case_sensitive`` (ordinary words such as "Apple", "Oracle", "Micron"). A case-sensitive
  alias matches as written, in upper case and in title case ("Meta", "META"; never "meta").
* **Separators.** A space or hyphen inside an alias matches a space, a hyphen or nothing:
  "Llama 2" finds "Llama-2" and "Llama2".
* **Longest first.** All aliases of one case class are one regex, longest alternative first,
  so "Gemini 2.0" is one match (the model gemini-2-0), not also "Gemini" (the family).
* **Symbols.** Cashtags (``$NVDA``) name any universe ticker; a bare symbol (``NVDA``, upper
  case, three letters or more) names equities, ADRs and ETFs unless the seeds' stop list has
  it ("NOW"). Symbols a source attached itself (yfinance ``relatedTickers``) are kept when they
  are in the universe.

An alias may name several entities ("Nvidia": the tickers NVDA and NVD.DE and the lab NVIDIA;
"Gemini": every Gemini release), and each becomes a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import polars as pl

from contracts import conform, empty
from contracts.news import ENTITY_ALIASES, NEWS_ENTITY

#: Legal-form words removed from the end of a company name to get its usual name.
_LEGAL_SUFFIX = (
    r"[,\s]+(?:Inc\.?|Incorporated|Corporation|Corp\.?|Company|Limited|Ltd\.?|Co\.?|plc|"
    r"N\.V\.|S\.A\.|AG|SE|Holdings?|Group)$"
)
_SEPARATOR = re.compile(r"[\s\-]+")
#: Security kinds whose bare symbol may appear in text.
_SYMBOL_KINDS = ("equity", "adr", "etf")
_CASHTAG = r"\$[A-Z]{1,6}(?:\.[A-Z]{1,3})?\b"
_METHOD_RANK = {"source": 0, "cashtag": 1, "symbol": 2, "alias": 3}


def _short_name(name: pl.Expr) -> pl.Expr:
    """'Taiwan Semiconductor Manufacturing Company Limited (ADS)' -> '... Manufacturing'."""
    out = name.str.replace_all(r"\s*\([^)]*\)", "").str.strip_chars()
    for _ in range(3):  # "Group Holding Ltd", "Co., Ltd."
        out = out.str.replace(_LEGAL_SUFFIX, "").str.strip_chars(" ,")
    return out


def build_aliases(
    securities: pl.DataFrame,
    events: pl.DataFrame,
    curated: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
    case_sensitive: Iterable[str] = (),
    symbol_stoplist: Iterable[str] = (),
) -> pl.DataFrame:
    """The alias table (ENTITY_ALIASES + ``method``) from the seeds.

    ``curated``: ``{"tickers": {ticker: [alias, ...]}, "labs": {lab: [...]},
    "models": {event_id: [...]}}`` (the ``[entities]`` tables of feeds.toml); entries whose
    ticker, lab or event is not in the seeds are ignored.
    """
    curated = curated or {}
    forced = set(case_sensitive)
    stop = set(symbol_stoplist)
    tickers = securities.select("ticker", "name", "kind")
    names = tickers.filter(pl.col("kind").is_in(_SYMBOL_KINDS)).select(
        entity_type=pl.lit("ticker"), entity_id="ticker", alias=_short_name(pl.col("name")),
        method=pl.lit("alias"),
    )
    symbols = tickers.filter(
        pl.col("kind").is_in(_SYMBOL_KINDS)
        & pl.col("ticker").str.contains(r"^[A-Z]{3,6}$")
        & ~pl.col("ticker").is_in(sorted(stop))
    ).select(
        entity_type=pl.lit("ticker"), entity_id="ticker", alias="ticker", method=pl.lit("symbol")
    )
    labs = events.select(
        entity_type=pl.lit("lab"), entity_id="lab",
        alias=pl.col("lab").str.replace_all(r"\s*\([^)]*\)", ""), method=pl.lit("alias"),
    ).unique()
    known = {
        "tickers": ("ticker", set(tickers["ticker"])),
        "labs": ("lab", set(events["lab"])),
        "models": ("model", set(events["event_id"])),
    }
    rows = [
        {"entity_type": etype, "entity_id": entity, "alias": alias, "method": "alias"}
        for section, (etype, valid) in known.items()
        for entity, aliases in (curated.get(section) or {}).items()
        if entity in valid
        for alias in aliases
    ]
    extra = pl.DataFrame(
        rows, schema={"entity_type": pl.String, "entity_id": pl.String, "alias": pl.String,
                      "method": pl.String},
    )
    table = (
        pl.concat([names, symbols, labs, extra])
        .with_columns(pl.col("alias").str.strip_chars())
        .filter(pl.col("alias").str.len_chars() >= 2)
        .with_columns(
            case_sensitive=(pl.col("method") == "symbol")
            | pl.col("alias").is_in(sorted(forced))
            | (~pl.col("alias").str.contains(r"\s") & (pl.col("alias").str.len_chars() <= 4))
        )
        .unique(["entity_type", "entity_id", "alias"], keep="first", maintain_order=True)
        .sort("entity_type", "entity_id", "alias")
    )
    return table.select(*ENTITY_ALIASES, "method")


def _variants(aliases: pl.DataFrame) -> pl.DataFrame:
    """Case-sensitive aliases as written, in upper case and in title case (one row each)."""
    cs = aliases.filter(pl.col("case_sensitive"))
    spelled = pl.concat([
        cs,
        cs.with_columns(pl.col("alias").str.to_uppercase()),
        cs.filter(pl.col("method") != "symbol").with_columns(
            pl.col("alias").str.slice(0, 1).str.to_uppercase() + pl.col("alias").str.slice(1)
        ),
    ]).unique(maintain_order=True)
    return pl.concat([aliases.filter(~pl.col("case_sensitive")), spelled])


def _key(expr: pl.Expr, case_sensitive: bool) -> pl.Expr:
    out = expr.str.replace_all(r"[\s\-]+", "")
    return out if case_sensitive else out.str.to_lowercase()


def _alternative(alias: str, case_sensitive: bool) -> str:
    body = r"[\s\-]?".join(re.escape(part) for part in _SEPARATOR.split(alias) if part)
    return body if case_sensitive else f"(?i:{body})"


def _pattern(aliases: pl.DataFrame) -> str | None:
    """One regex for all aliases: longest first (whatever the case class), flexible
    separators, each alternative with its own case rule, word boundaries around the lot."""
    if aliases.height == 0:
        return None
    pairs = sorted(
        set(zip(aliases["alias"].to_list(), aliases["case_sensitive"].to_list(), strict=True)),
        key=lambda p: (-len(p[0]), p[0], p[1]),
    )
    return r"\b(?:" + "|".join(_alternative(a, cs) for a, cs in pairs) + r")\b"


def tag_entities(
    news: pl.DataFrame, aliases: pl.DataFrame, universe: Iterable[str]
) -> pl.DataFrame:
    """NEWS_ENTITY rows for ``news`` (columns news_id, title, summary, related_tickers).

    One row per (news_id, entity_type, entity_id); rows with a null news_id are skipped.
    ``universe``: the tickers of the security master (for cashtags and source tags).
    """
    if news.height == 0:
        return empty(NEWS_ENTITY)
    universe = sorted(set(universe))
    table = _variants(aliases)
    docs = news.filter(pl.col("news_id").is_not_null()).select(
        "news_id", title=pl.col("title").fill_null(""), summary=pl.col("summary").fill_null(""),
        related=pl.col("related_tickers"),
    )
    found: list[pl.DataFrame] = []
    pattern = _pattern(table)
    keyed = (
        table.with_columns(
            key=pl.when(pl.col("case_sensitive")).then(_key(pl.col("alias"), True))
            .otherwise(_key(pl.col("alias"), False))
        )
        .with_columns(_rank=pl.col("method").replace_strict(_METHOD_RANK, return_dtype=pl.Int8))
        .sort("_rank")
        .unique(["key", "case_sensitive", "entity_type", "entity_id"], keep="first",
                maintain_order=True)
        .select("key", "case_sensitive", "entity_type", "entity_id", "method")
    )
    for field in ("title", "summary") if pattern else ():
        hits = (
            docs.select(  # cashtags are counted below, not again as bare symbols
                "news_id",
                matched=pl.col(field).str.replace_all(_CASHTAG, " ").str.extract_all(pattern),
            )
            .explode("matched")
            .drop_nulls("matched")
            .with_row_index("_hit")
        )
        by_case = [
            hits.with_columns(key=_key(pl.col("matched"), cs), case_sensitive=pl.lit(cs))
            .join(keyed, on=["key", "case_sensitive"], how="inner")
            for cs in (False, True)
        ]
        resolved = (
            pl.concat(by_case)
            .unique(["_hit", "entity_type", "entity_id"], keep="first", maintain_order=True)
            .with_columns(in_title=pl.lit(field == "title"))
        )
        found.append(resolved.select("news_id", "entity_type", "entity_id", "matched", "method",
                                     "in_title"))
    for field in ("title", "summary"):
        cashtags = (
            docs.select("news_id", matched=pl.col(field).str.extract_all(_CASHTAG))
            .explode("matched")
            .drop_nulls("matched")
            .with_columns(entity_id=pl.col("matched").str.strip_prefix("$"))
            .filter(pl.col("entity_id").is_in(universe))
        )
        found.append(cashtags.select(
            "news_id", entity_type=pl.lit("ticker"), entity_id="entity_id", matched="matched",
            method=pl.lit("cashtag"), in_title=pl.lit(field == "title"),
        ))
    attached = (
        docs.select("news_id", "related").explode("related")
        .filter(pl.col("related").is_in(universe))
    )
    found.append(attached.select(
        "news_id", entity_type=pl.lit("ticker"), entity_id="related", matched="related",
        method=pl.lit("source"), in_title=pl.lit(False),
    ))
    frames = [f for f in found if f.height]
    if not frames:
        return empty(NEWS_ENTITY)
    tags = (
        pl.concat(frames)
        .with_columns(_rank=pl.col("method").replace_strict(_METHOD_RANK, return_dtype=pl.Int8))
        .sort("news_id", "entity_type", "entity_id", "_rank", pl.col("in_title").not_())
        .group_by("news_id", "entity_type", "entity_id", maintain_order=True)
        .agg(
            pl.col("matched").first(),
            pl.col("method").first(),
            pl.col("in_title").any(),
            mentions=pl.col("method").is_in(["cashtag", "symbol", "alias"]).sum().cast(pl.Int64),
        )
    )
    return conform(tags, NEWS_ENTITY, "news entities")


def search_terms(
    events: pl.DataFrame, aliases: pl.DataFrame, since: datetime | None = None
) -> list[str]:
    """Queries for search endpoints: every lab, and the primary name of each model released
    since ``since`` (all when None). The primary name is the longest curated alias."""
    models = (
        events.filter(pl.col("announced_at") >= since) if since is not None else events
    ).select("event_id")
    primary = (
        aliases.filter(pl.col("entity_type") == "model")
        .join(models, left_on="entity_id", right_on="event_id")
        .sort(pl.col("alias").str.len_chars(), descending=True)
        .group_by("entity_id", maintain_order=True)
        .agg(pl.col("alias").first())
        .sort("entity_id")["alias"]
        .to_list()
    )
    labs = events["lab"].str.replace_all(r"\s*\([^)]*\)", "").unique().sort().to_list()
    return list(dict.fromkeys([*labs, *primary]))


def event_windows(
    events: pl.DataFrame, aliases: pl.DataFrame, before: timedelta, after: timedelta
) -> pl.DataFrame:
    """(query, event_id, start, end): one history search per event and per name of it (its
    lab, its longest model alias), over [announced - before, announced + after]."""
    model = (
        aliases.filter(pl.col("entity_type") == "model")
        .sort(pl.col("alias").str.len_chars(), descending=True)
        .group_by("entity_id", maintain_order=True)
        .agg(query=pl.col("alias").first())
        .rename({"entity_id": "event_id"})
    )
    base = events.select(
        "event_id", "announced_at",
        lab=pl.col("lab").str.replace_all(r"\s*\([^)]*\)", ""),
    ).join(model, on="event_id", how="left")
    frames = [
        base.select("event_id", "announced_at", query=pl.col("lab")),
        base.filter(pl.col("query").is_not_null()).select("event_id", "announced_at", "query"),
    ]
    return (
        pl.concat(frames)
        .select(
            "query", "event_id",
            start=pl.col("announced_at") - before,
            end=pl.col("announced_at") + after,
        )
        .unique(["query", "event_id"], maintain_order=True)
        .sort("event_id", "query")
    )
