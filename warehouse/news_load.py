"""News in the warehouse: the DDL, the news seeds, idempotent loaders and reads.

Follows ``warehouse.load``: natural keys, MERGE, no commit of its own (the caller's
transaction, ``load.transaction``, decides); raw rows land once per distinct version.
Rerunning a load with the same rows inserts nothing: stories are keyed by ``news_id``, their
carriers by (news_id, source, channel), their tags by (news_id, entity_type, entity_id).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from contracts import ContractError
from warehouse.connection import query_frame
from warehouse.load import _stage
from warehouse.seeds import seed_path

#: Columns of core.fact_news that come from the batch (the rest is load bookkeeping).
NEWS_VALUES = ("canonical_url", "url", "title", "summary", "publisher", "published_at",
               "published_from", "published_estimated", "tz_assumed", "sentiment", "source",
               "sources", "n_channels", "quality_flags")
_RAW_HASHED = ("source", "channel", "item_id", "title", "summary", "url", "publisher",
               "published_raw", "published_at", "related_tickers")


# --------------------------------------------------------------------------- seeds


@dataclass(frozen=True)
class NewsSeeds:
    """What warehouse/seeds/feeds.toml (or a ``--feeds FILE``) says.

    ``feeds``: dicts with name, url (an http(s) URL, or an absolute file path), kind, and
    optional lab, timeout, max_bytes. ``entities``: {"tickers"|"labs"|"models": {id: [alias]}}.
    """

    feeds: list[dict]
    search_template: str | None = None
    search_recent_days: int = 120
    search_extra_terms: list[str] = field(default_factory=list)
    entities: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    case_sensitive: list[str] = field(default_factory=list)
    symbol_stoplist: list[str] = field(default_factory=list)
    path: str = ""


def _resolve(location: str, folder: Path) -> str:
    """A URL as is; a file path made absolute against the list's folder."""
    if location.startswith(("http://", "https://")):
        return location
    if location.startswith("file://"):
        location = location[len("file://"):]
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())


def _feed_list(path: Path) -> list[dict]:
    """A plain list: one URL or file path a line; blank lines and '#' comments skipped."""
    feeds = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            feeds.append({"name": Path(entry.rstrip("/")).name or entry, "url": entry})
    return feeds


def read_news_seeds(path: str | Path | None = None) -> NewsSeeds:
    """The news seeds. ``path`` may be a TOML file like feeds.toml or a plain list of feeds
    (one URL or file path a line); the entity aliases and search settings then come from the
    shipped feeds.toml unless the file has its own ``[entities]``/``[search]``."""
    shipped = seed_path("feeds.toml")
    path = Path(path) if path else shipped
    if not path.is_file():
        raise ContractError(f"feeds file {path} not found")
    try:
        if path.suffix.lower() == ".toml":
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
            feeds = doc.get("feeds", [])
        else:
            doc, feeds = {}, _feed_list(path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path}: unreadable ({exc})") from None
    base = doc if path == shipped else tomllib.loads(shipped.read_text(encoding="utf-8"))
    entities = doc.get("entities") or base.get("entities") or {}
    search = doc.get("search") or (base.get("search") if path == shipped else {}) or {}
    names: set[str] = set()
    resolved = []
    for i, feed in enumerate(feeds):
        if not isinstance(feed, dict) or not feed.get("url"):
            raise ContractError(f"{path}: feed #{i + 1} has no url")
        name = str(feed.get("name") or feed["url"])
        if name in names:
            raise ContractError(f"{path}: duplicate feed name {name!r}")
        names.add(name)
        resolved.append({**feed, "name": name, "url": _resolve(str(feed["url"]), path.parent),
                         "kind": feed.get("kind", "other")})
    return NewsSeeds(
        feeds=resolved,
        search_template=search.get("template"),
        search_recent_days=int(search.get("recent_days", 120)),
        search_extra_terms=list(search.get("extra_terms", [])),
        entities={k: v for k, v in entities.items() if isinstance(v, dict)},
        case_sensitive=list(entities.get("case_sensitive", [])),
        symbol_stoplist=list(entities.get("symbol_stoplist", [])),
        path=str(path),
    )


def read_vader_lexicon() -> pl.DataFrame:
    """(token, valence) from the lexicon file the ``vaderSentiment`` package ships."""
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text("utf-8")
    rows = [line.split("\t")[:2] for line in text.splitlines() if "\t" in line]
    return pl.DataFrame(rows, schema={"token": pl.String, "valence": pl.String},
                        orient="row").with_columns(pl.col("valence").cast(pl.Float64))


# --------------------------------------------------------------------------- loads


def land_raw_news(con: duckdb.DuckDBPyConnection, raw: pl.DataFrame, run_id: str) -> int:
    """Append fetched items to raw.news; a version already landed is not landed again."""
    if raw.height == 0:
        return 0
    _stage(con, "staged_raw_news", raw)
    hashed = ", ".join(_RAW_HASHED)
    return con.execute(
        f"""
        INSERT INTO raw.news BY NAME
        SELECT s.*, ? AS run_id, hash({hashed}) AS row_hash
        FROM (SELECT DISTINCT ON (hash({hashed})) * FROM staged_raw_news) s
        WHERE hash({hashed}) NOT IN (SELECT row_hash FROM raw.news)
        """,
        [run_id],
    ).fetchall()[0][0]


def upsert_news(
    con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: str, seen_at: datetime
) -> dict[str, int]:
    """MERGE validated stories into core.fact_news.

    A new story is inserted; a known one keeps its text and first-seen fields and gains the
    batch's sources, a fresh last_seen_at/last_run_id and (if it changed) its sentiment."""
    if good.height == 0:
        return {"inserted": 0, "updated": 0}
    staged = good.select(["news_id", *NEWS_VALUES]).with_columns(
        first_seen_at=pl.lit(seen_at), last_seen_at=pl.lit(seen_at),
        first_run_id=pl.lit(run_id), last_run_id=pl.lit(run_id),
    )
    _stage(con, "staged_news", staged)
    rows = con.execute(
        """
        MERGE INTO core.fact_news AS t
        USING staged_news AS s
        ON t.news_id = s.news_id
        WHEN MATCHED THEN UPDATE SET
            sources = list_sort(list_distinct(list_concat(t.sources, s.sources))),
            sentiment = s.sentiment,
            last_seen_at = s.last_seen_at,
            last_run_id = s.last_run_id
        WHEN NOT MATCHED THEN INSERT BY NAME
        RETURNING merge_action
        """
    ).fetchall()
    actions = [r[0] for r in rows]
    return {"inserted": actions.count("INSERT"), "updated": actions.count("UPDATE")}


def upsert_news_sources(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, run_id: str, seen_at: datetime
) -> int:
    """MERGE (story, source, channel) rows into core.news_source; returns how many are new.

    Also refreshes core.fact_news.n_channels of the stories touched."""
    if rows.height == 0:
        return 0
    _stage(con, "staged_news_source", rows.select(
        "news_id", "source", "channel", "canonical_url", "url", "item_id", "published_at",
        first_seen_at=pl.lit(seen_at), last_seen_at=pl.lit(seen_at), run_id=pl.lit(run_id),
    ))
    merged = con.execute(
        """
        MERGE INTO core.news_source AS t
        USING staged_news_source AS s
        ON t.news_id = s.news_id AND t.source = s.source AND t.channel = s.channel
        WHEN MATCHED THEN UPDATE SET last_seen_at = s.last_seen_at
        WHEN NOT MATCHED THEN INSERT BY NAME
        RETURNING merge_action
        """
    ).fetchall()
    con.execute(
        """
        UPDATE core.fact_news AS f SET n_channels = c.n
        FROM (SELECT news_id, count(*) AS n FROM core.news_source
              WHERE news_id IN (SELECT news_id FROM staged_news_source) GROUP BY news_id) c
        WHERE f.news_id = c.news_id AND f.n_channels IS DISTINCT FROM c.n
        """
    )
    return [r[0] for r in merged].count("INSERT")


def upsert_news_entities(
    con: duckdb.DuckDBPyConnection, tags: pl.DataFrame, news_ids: list[str], run_id: str
) -> dict[str, int]:
    """Replace the tags of the stories ``news_ids`` with ``tags`` (only changes are written).

    Returns inserted (new links), updated (changed match details) and deleted (links the
    current aliases no longer find)."""
    if not news_ids:
        return {"inserted": 0, "updated": 0, "deleted": 0}
    ids = pl.DataFrame({"news_id": news_ids}, schema={"news_id": pl.String})
    _stage(con, "staged_tag_ids", ids)
    _stage(con, "staged_tags", tags.with_columns(run_id=pl.lit(run_id)))
    deleted = con.execute(
        """
        DELETE FROM core.bridge_news_entity AS b
        WHERE b.news_id IN (SELECT news_id FROM staged_tag_ids)
          AND NOT EXISTS (SELECT 1 FROM staged_tags s WHERE s.news_id = b.news_id
                          AND s.entity_type = b.entity_type AND s.entity_id = b.entity_id)
        """
    ).fetchall()[0][0]
    if tags.height == 0:
        return {"inserted": 0, "updated": 0, "deleted": deleted}
    rows = con.execute(
        """
        MERGE INTO core.bridge_news_entity AS t
        USING staged_tags AS s
        ON t.news_id = s.news_id AND t.entity_type = s.entity_type AND t.entity_id = s.entity_id
        WHEN MATCHED AND (t.matched IS DISTINCT FROM s.matched OR t.method IS DISTINCT FROM
                          s.method OR t.in_title IS DISTINCT FROM s.in_title
                          OR t.mentions IS DISTINCT FROM s.mentions)
            THEN UPDATE SET matched = s.matched, method = s.method, in_title = s.in_title,
                            mentions = s.mentions, run_id = s.run_id
        WHEN NOT MATCHED THEN INSERT BY NAME
        RETURNING merge_action
        """
    ).fetchall()
    actions = [r[0] for r in rows]
    return {"inserted": actions.count("INSERT"), "updated": actions.count("UPDATE"),
            "deleted": deleted}


# --------------------------------------------------------------------------- reads


def read_known_news(con: duckdb.DuckDBPyConnection, since: datetime | None) -> pl.DataFrame:
    """Stories (one row per carrier URL) published since ``since``: what a new batch is
    deduplicated against (transforms.news.KNOWN_NEWS)."""
    where = "WHERE f.published_at >= ?" if since is not None else ""
    frame = query_frame(
        con,
        f"""
        SELECT f.news_id, coalesce(s.canonical_url, f.canonical_url) AS canonical_url,
               f.title, f.publisher, f.published_at
        FROM core.fact_news f LEFT JOIN core.news_source s USING (news_id)
        {where}
        """,
        [since] if since is not None else None,
    )
    if frame.height == 0:
        return pl.DataFrame(schema={"news_id": pl.String, "canonical_url": pl.String,
                                    "title": pl.String, "publisher": pl.String,
                                    "published_at": pl.Datetime("us", "UTC")})
    return frame.unique(maintain_order=True).with_columns(
        pl.col("published_at").dt.convert_time_zone("UTC")
    )


def read_news_for_marts(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(stories, tags) as the marts need them (inside the run's transaction: its own writes)."""
    news = query_frame(
        con,
        "SELECT news_id, title, published_at, sentiment, n_channels, source, publisher "
        "FROM core.fact_news",
    )
    tags = query_frame(
        con,
        "SELECT news_id, entity_type, entity_id, in_title FROM core.bridge_news_entity",
    )
    if news.height:
        news = news.with_columns(pl.col("published_at").dt.convert_time_zone("UTC"))
    else:
        news = pl.DataFrame(schema={"news_id": pl.String, "title": pl.String,
                                    "published_at": pl.Datetime("us", "UTC"),
                                    "sentiment": pl.Float64, "n_channels": pl.Int64,
                                    "source": pl.String, "publisher": pl.String})
    if tags.height == 0:
        tags = pl.DataFrame(schema={"news_id": pl.String, "entity_type": pl.String,
                                    "entity_id": pl.String, "in_title": pl.Boolean})
    return news, tags


# --------------------------------------------------------------------------- detection inputs

READ_NEWS_FOR_DETECTION = """
SELECT f.news_id, f.title, f.url, f.publisher, f.source, f.published_at,
       coalesce(list(s.channel ORDER BY s.channel) FILTER (WHERE s.channel IS NOT NULL),
                []::VARCHAR[]) AS channels
FROM core.fact_news f LEFT JOIN core.news_source s USING (news_id)
GROUP BY ALL
ORDER BY f.published_at, f.news_id
"""

#: read_news_for_detection's columns.
DETECTION_NEWS: dict[str, pl.DataType] = {
    "news_id": pl.String(), "title": pl.String(), "url": pl.String(), "publisher": pl.String(),
    "source": pl.String(), "published_at": pl.Datetime("us", "UTC"),
    "channels": pl.List(pl.String()),
}


def typed(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A query result cast to ``schema`` (instants in UTC); an empty result gets the schema."""
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    return frame.select(
        pl.col(c).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        if isinstance(t, pl.Datetime) else pl.col(c).cast(t)
        for c, t in schema.items()
    )


def read_news_for_detection(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every loaded story with the channels that carried it (for detect_events)."""
    return typed(query_frame(con, READ_NEWS_FOR_DETECTION), DETECTION_NEWS)


def read_detected_events(con: duckdb.DuckDBPyConnection,
                         columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """The detected rows of core.dim_event, ``columns`` of them."""
    frame = query_frame(
        con,
        f"SELECT {', '.join(columns)} FROM core.dim_event WHERE origin = 'detected' "
        "ORDER BY announced_at, event_id",
    )
    return typed(frame, columns)


def clear_detected_events(con: duckdb.DuckDBPyConnection) -> pl.Series:
    """Delete the detected rows of core.dim_event; return the event ids still taken."""
    con.execute("DELETE FROM core.dim_event WHERE origin = 'detected'")
    return pl.Series(
        [r[0] for r in con.execute("SELECT event_id FROM core.dim_event").fetchall()],
        dtype=pl.String,
    )


def read_attention(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """(event_id, attention_date) of every event with an attention day (marts.news_attention),
    or None when there is none (no news loaded). An event whose attention day lacks the
    evidence (``attention_reason`` set, ``attention_date`` null) is not among them, so it has
    announcement rows only."""
    frame = query_frame(
        con,
        "SELECT DISTINCT event_id, attention_date FROM marts.news_attention "
        "WHERE attention_date IS NOT NULL ORDER BY event_id",
    )
    if frame.height == 0:
        return None
    return typed(frame, {"event_id": pl.String(), "attention_date": pl.Date()})
