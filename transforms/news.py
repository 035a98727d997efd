"""Cleaning and deduplicating news: RAW_NEWS -> CLEAN_NEWS -> (CORE_NEWS, NEWS_SOURCE).

Pure polars, no I/O. The steps:

* **Text.** ``<script>``/``<style>`` blocks (with their content) and comments are removed, then
  every tag; HTML entities (named and numeric, also double-encoded ones such as ``&amp;#39;``)
  are decoded; zero-width characters dropped; runs of whitespace (NBSP included) collapsed.
* **URL.** ``canonical_url``: ``https`` for ``http`` too, host lower-cased, ``www.`` and
  default ports dropped,
  fragment dropped, tracking parameters (``utm_*``, ``gclid``, ``fbclid``, Yahoo's ``yptr`` and
  ``siteid``, heise's ``wt_mc``, Google News' ``oc`` ...) removed, the other parameters sorted,
  a trailing slash dropped. Not an http(s) URL -> null (the news suite rejects the row).
  ``news_id`` is the first 32 hex digits of the SHA-256 of the canonical URL: stable across
  runs, machines and library versions (polars' own ``hash`` is documented as not stable across
  versions, so Python's ``hashlib`` is applied to the column in one batch call).
* **Time.** The wire's date text is read first (RFC 822 with or without weekday, numeric or
  named zone; ISO 8601; ``2020/1/10 14:33:00``; Portuguese, Spanish, French and German month
  abbreviations), because libraries misread some of them silently (feedparser reads
  ``2020/1/10 14:33:00`` as 2020-11-01 00:00). A text without a zone is read as UTC and flagged
  ``tz_assumed``. Then the source library's own reading, then the fetch time, flagged
  ``published_estimated``.
* **Dedupe.** Two rows are the same story when they share a canonical URL, or a normalised
  title (lower case, punctuation removed, a trailing `` - Publisher`` dropped; at least 20
  characters and 3 words) published within 48 hours of each other (chained: A~B and B~C puts
  A, B and C together). Stories already in the warehouse (``known``) keep their ``news_id``:
  a new copy of one is attached to it. The copy kept is the earliest published; every
  (source, channel) that carried the story is kept in ``NEWS_SOURCE``.
"""

from __future__ import annotations

import hashlib
import html
from datetime import timedelta

import polars as pl

from contracts import conform, empty
from contracts.news import CLEAN_NEWS, CORE_NEWS, NEWS_SOURCE, RAW_NEWS

#: Stories with the same normalised title this close in time are one story.
TITLE_WINDOW = timedelta(hours=48)
#: A normalised title shorter than this (or with fewer words) is not used to match stories.
MIN_TITLE_KEY_CHARS = 20
MIN_TITLE_KEY_WORDS = 3

#: Query parameters that only track the reader (matched on the lower-cased name).
TRACKING_PARAMS = (
    r"utm_[a-z0-9_]*", "gclid", "gclsrc", "dclid", "fbclid", "msclkid", "mc_cid", "mc_eid",
    "_hsenc", "_hsmi", "mkt_tok", "igshid", "yclid", "ncid", "ocid", "oc", "cmpid", "cmp",
    "guccounter", "guce_referrer", "guce_referrer_sig", "yptr", "siteid", "soc_src", "soc_trk",
    "wt_mc", r"wt\.mc_id", "wt_zmc", r"\.tsrc", "src", "ref", "ref_src", "referrer", "spm",
    "taid", "smid", "sr_share", "share", "cid", "rss", "partner", "via", "feature",
)
_TRACKING = r"^(?:" + "|".join(TRACKING_PARAMS) + r")(?:=|$)"
_URL = r"^(?i)(https?)://([^/?#:@\s]+)(?::(\d+))?([^?#\s]*)(?:\?([^#\s]*))?(?:#\S*)?$"

_BLOCK_TAGS = (
    r"(?i)</?(?:p|br|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|section|article)\b[^<>]*>"
)
_ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"

#: Month abbreviations of languages seen in feeds -> English (the date parser reads English).
_MONTHS = {
    "jan": "Jan", "fev": "Feb", "fév": "Feb", "mär": "Mar", "mrz": "Mar", "abr": "Apr",
    "avr": "Apr", "mai": "May", "may": "May", "jun": "Jun", "juin": "Jun", "jul": "Jul",
    "juil": "Jul", "ago": "Aug", "aoû": "Aug", "set": "Sep", "sep": "Sep", "out": "Oct",
    "okt": "Oct", "oct": "Oct", "nov": "Nov", "dez": "Dec", "dic": "Dec", "déc": "Dec",
    "dec": "Dec", "ene": "Jan", "feb": "Feb", "mar": "Mar", "apr": "Apr", "aug": "Aug",
    "january": "Jan", "february": "Feb", "march": "Mar", "april": "Apr", "june": "Jun",
    "july": "Jul", "august": "Aug", "september": "Sep", "sept": "Sep", "october": "Oct",
    "november": "Nov", "december": "Dec", "janeiro": "Jan", "fevereiro": "Feb",
    "março": "Mar", "abril": "Apr", "maio": "May", "junho": "Jun", "julho": "Jul",
    "agosto": "Aug", "setembro": "Sep", "outubro": "Oct", "novembro": "Nov",
    "dezembro": "Dec", "jän": "Jan", "märz": "Mar", "juni": "Jun", "juli": "Jul",
    "okt.": "Oct", "dez.": "Dec",
}
#: Named zones seen in RSS dates (RFC 822 allows the US ones) -> numeric offsets.
_ZONES = {
    "GMT": "+0000", "UTC": "+0000", "UT": "+0000", "Z": "+0000", "EST": "-0500",
    "EDT": "-0400", "CST": "-0600", "CDT": "-0500", "MST": "-0700", "MDT": "-0600",
    "PST": "-0800", "PDT": "-0700", "CET": "+0100", "CEST": "+0200", "BST": "+0100",
    "JST": "+0900", "KST": "+0900", "HKT": "+0800",
}
_UTC = pl.Datetime("us", "UTC")


# --------------------------------------------------------------------------- text


def _strip_tags(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.replace_all(r"(?is)<(script|style)\b.*?</(?:script|style)\s*>", " ")
        .str.replace_all(r"(?is)<(?:script|style)\b.*$", " ")  # an unclosed script block
        .str.replace_all(r"(?s)<!--.*?-->", "")
        .str.replace_all(_BLOCK_TAGS, " ")
        .str.replace_all(r"<[A-Za-z/!][^<>]*>", "")
    )


def _squash(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.replace_all("[\u200b\u200c\u200d\u2060\ufeff\u00ad]", "")
        .str.replace_all(r"[\s\u00a0\u2007\u202f]+", " ")
        .str.strip_chars()
    )


def decode_entities(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Decode HTML entities in ``columns``.

    The distinct entities present (a handful) are decoded with ``html.unescape`` and replaced
    in one vectorised ``replace_many`` per column."""
    present = [c for c in columns if c in frame.columns]
    if not present or frame.height == 0:
        return frame
    found = (
        pl.concat([frame.select(pl.col(c).str.extract_all(_ENTITY).alias("e")) for c in present])
        .explode("e")
        .drop_nulls()
        .unique()
        .get_column("e")
        .sort()
        .to_list()
    )
    if not found:
        return frame
    decoded = [html.unescape(e) for e in found]  # one call per distinct entity, not per row
    return frame.with_columns(pl.col(c).str.replace_many(found, decoded) for c in present)


#: Strip-and-decode passes before clean_text gives up on a fixed point (one per level of
#: escaping; real feeds escape twice at most).
MAX_CLEAN_PASSES = 12


def clean_text(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Strip HTML and decode entities in ``columns``, to a fixed point: escaped markup
    (``&lt;b&gt;``) is markup once decoded, and each level of ``&amp;amp;`` hides one more, so
    passes repeat until a pass changes nothing (at most ``MAX_CLEAN_PASSES``; each pass is
    vectorised over all rows). No tag survives, however deep the escaping."""
    for _ in range(MAX_CLEAN_PASSES):
        before = frame.select(columns)
        frame = decode_entities(
            frame.with_columns(_strip_tags(pl.col(c)) for c in columns), columns)
        if frame.select(columns).equals(before):
            break
    else:  # deeper than any feed nests: drop what could still open a tag
        frame = frame.with_columns(pl.col(c).str.replace_all(r"[<>]", "") for c in columns)
    return frame.with_columns(_squash(pl.col(c)) for c in columns).with_columns(
        pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in columns
    )


# --------------------------------------------------------------------------- URL


def canonical_url(url: pl.Expr) -> pl.Expr:
    """The canonical form of an http(s) URL (see the module docstring); null otherwise."""
    parts = url.str.strip_chars().str.extract_groups(_URL)
    scheme = parts.struct.field("1").str.to_lowercase()  # http and https are one story
    host = (
        parts.struct.field("2").str.to_lowercase().str.strip_chars_end(".")
        .str.replace(r"^www\d?\.", "")
    )
    port = parts.struct.field("3")
    port = (
        pl.when(port.is_null() | ((scheme == "http") & (port == "80"))
                | ((scheme == "https") & (port == "443")))
        .then(pl.lit(""))
        .otherwise(pl.lit(":") + port)
    )
    path = parts.struct.field("4").fill_null("").str.replace(r"/+$", "")
    query = (
        parts.struct.field("5").fill_null("").str.split("&")
        .list.eval(
            pl.element().filter(
                (pl.element() != "") & ~pl.element().str.to_lowercase().str.contains(_TRACKING)
            )
        )
        .list.sort()
        .list.join("&")
    )
    query = pl.when(query == "").then(pl.lit("")).otherwise(pl.lit("?") + query)
    return pl.when(scheme.is_not_null() & host.str.contains(r"\.")).then(
        pl.concat_str([pl.lit("https://"), host, port, path, query])
    )


def news_ids(canonical: pl.Series) -> pl.Series:
    """``news_id`` for each canonical URL: first 32 hex digits of its SHA-256; null stays null.

    One batch call into ``hashlib`` (polars has no hash that is stable across versions)."""
    return pl.Series(
        canonical.name,
        [None if u is None else hashlib.sha256(u.encode()).hexdigest()[:32]
         for u in canonical.to_list()],
        dtype=pl.String(),
    )


# --------------------------------------------------------------------------- time


def _normalise_date_text(raw: pl.Expr) -> pl.Expr:
    """'Seg, 24 Set 2018 19:42:40 -0300' -> '24 Sep 2018 19:42:40 -0300'; named zones to
    offsets ('GMT' -> '+0000'). Three regexes in all, whatever the number of names."""
    text = raw.str.strip_chars().str.replace(r"^[^\d,]{2,12},\s*", "")  # weekday, any language
    parts = text.str.extract_groups(r"^(\d{1,2})[\s\-]+(\p{L}+)\.?[\s\-]+(\d{4})(.*)$")
    month = parts.struct.field("2").str.to_lowercase().replace_strict(
        _MONTHS, default=None, return_dtype=pl.String
    )
    text = pl.when(month.is_not_null()).then(
        pl.concat_str([parts.struct.field("1"), pl.lit(" "), month, pl.lit(" "),
                       parts.struct.field("3"), parts.struct.field("4")])
    ).otherwise(text)
    zone = text.str.extract(r"\s+\(?([A-Z]{1,4})\)?$", 1)
    offset = zone.replace_strict(_ZONES, default=None, return_dtype=pl.String)
    return pl.when(offset.is_not_null()).then(
        text.str.replace(r"\s+\(?[A-Z]{1,4}\)?$", "") + pl.lit(" ") + offset
    ).otherwise(text)


def parse_wire_time(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """(``at``: instant in UTC, ``tz_assumed``: the text had no zone) read from the date text
    in ``column``, one row per row of ``frame``; nulls where it is unreadable."""
    texts = frame.select(
        raw=pl.col(column).str.strip_chars(), text=_normalise_date_text(pl.col(column))
    )
    text, raw = pl.col("text"), pl.col("raw")

    def aware(fmt: str) -> pl.Expr:
        return text.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us")

    def naive(fmt: str) -> pl.Expr:
        return text.str.to_datetime(fmt, strict=False, time_unit="us")

    iso_zoned = raw.str.contains(
        r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})$"
    )
    zoned = pl.coalesce(
        aware("%d %b %Y %H:%M:%S %z"),
        aware("%d %b %Y %H:%M %z"),
        pl.when(iso_zoned).then(
            raw.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
        ),
    )
    unzoned = pl.coalesce(
        naive("%Y/%m/%d %H:%M:%S"),
        naive("%Y/%m/%d %H:%M"),
        naive("%Y-%m-%d %H:%M:%S"),
        naive("%Y-%m-%dT%H:%M:%S"),
        naive("%Y-%m-%dT%H:%M:%S%.f"),
        naive("%d %b %Y %H:%M:%S"),
        naive("%d %b %Y %H:%M"),
        text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
        text.str.to_date("%d %b %Y", strict=False).cast(pl.Datetime("us")),
    ).dt.replace_time_zone("UTC")
    return texts.select(zoned=zoned, unzoned=unzoned).select(
        at=pl.coalesce("zoned", "unzoned"),
        tz_assumed=pl.col("zoned").is_null() & pl.col("unzoned").is_not_null(),
    )


# --------------------------------------------------------------------------- clean


def title_key(title: pl.Expr, publisher: pl.Expr) -> pl.Expr:
    """The normalised title used to match stories; null when too short to be distinctive."""
    key = (
        title.str.strip_suffix(pl.lit(" - ") + publisher.fill_null(""))
        .str.to_lowercase()
        .str.replace_all(r"[’'`]", "")
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
    )
    distinctive = (key.str.len_chars() >= MIN_TITLE_KEY_CHARS) & (
        key.str.count_matches(" ") + 1 >= MIN_TITLE_KEY_WORDS
    )
    return pl.when(distinctive).then(key)


def clean(raw: pl.DataFrame) -> pl.DataFrame:
    """RAW_NEWS -> CLEAN_NEWS (one row per raw row, same order)."""
    raw = conform(raw, RAW_NEWS, "raw news")
    if raw.height == 0:
        return empty(CLEAN_NEWS)
    wire = parse_wire_time(raw, "published_raw")
    frame = clean_text(
        raw.with_columns(pl.col("publisher").str.strip_chars()), ["title", "summary", "publisher"]
    ).with_columns(
        canonical_url=canonical_url(pl.col("url")),
        _wire_at=wire["at"],
        _tz_assumed=wire["tz_assumed"],
    )
    frame = frame.with_columns(
        news_id=news_ids(frame["canonical_url"]),
        published_from=pl.when(pl.col("_wire_at").is_not_null()).then(pl.lit("wire"))
        .when(pl.col("published_at").is_not_null()).then(pl.lit("library"))
        .otherwise(pl.lit("fetched_at")),
        published_at=pl.coalesce("_wire_at", "published_at", "fetched_at"),
        url=pl.col("url").str.strip_chars(),
        title_key=title_key(pl.col("title"), pl.col("publisher")),
    ).with_columns(
        published_estimated=pl.col("published_from") == "fetched_at",
        tz_assumed=(pl.col("published_from") == "wire") & pl.col("_tz_assumed"),
    )
    return conform(frame, CLEAN_NEWS, "clean news")


# --------------------------------------------------------------------------- dedupe

#: What the warehouse already knows, for cross-run dedupe (warehouse.news_load.read_known_news).
KNOWN_NEWS: dict[str, pl.DataType] = {
    "news_id": pl.String(),
    "canonical_url": pl.String(),
    "title": pl.String(),
    "publisher": pl.String(),
    "published_at": _UTC,
}


def _components(rows: pl.DataFrame) -> pl.Series:
    """Connected components of 'same canonical URL' and 'same title key within 48 h' links.

    Label propagation: each row starts with its own number and repeatedly takes the smallest
    number in its URL group and in its title run, until nothing changes (a few rounds)."""
    title_runs = (
        rows.select("_row", "title_key", "published_at")
        .filter(pl.col("title_key").is_not_null())
        .sort("title_key", "published_at", "_row")
        .with_columns(
            _new_run=(
                (pl.col("title_key") != pl.col("title_key").shift(1))
                | pl.col("title_key").shift(1).is_null()
                | ((pl.col("published_at") - pl.col("published_at").shift(1)) > TITLE_WINDOW)
            )
        )
        .with_columns(_run=pl.col("_new_run").cum_sum())
        .select("_row", "_run")
    )
    frame = rows.select("_row", "canonical_url").join(
        title_runs, on="_row", how="left"
    ).with_columns(_label=pl.col("_row"))
    for _ in range(64):  # each round merges across one more link; stories chain rarely deep
        before = frame["_label"]
        frame = frame.with_columns(
            _label=pl.min_horizontal(
                pl.col("_label"),
                pl.when(pl.col("canonical_url").is_not_null())
                .then(pl.col("_label").min().over("canonical_url")),
                pl.when(pl.col("_run").is_not_null()).then(pl.col("_label").min().over("_run")),
            )
        )
        if frame["_label"].equals(before):
            break
    return frame.sort("_row")["_label"]


def deduplicate(
    clean_rows: pl.DataFrame, known: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CLEAN_NEWS (+ what the warehouse knows) -> (CORE_NEWS, NEWS_SOURCE).

    ``CORE_NEWS`` has one row per story in this batch (a story the warehouse already holds
    comes back under its existing ``news_id``, so loading it only adds sources).
    Rows without a canonical URL stay single rows with a null ``news_id`` (and no
    NEWS_SOURCE row), for the news suite to reject."""
    clean_rows = conform(clean_rows, CLEAN_NEWS, "clean news")
    if clean_rows.height == 0:
        return empty(CORE_NEWS), empty(NEWS_SOURCE)
    known = conform(known, KNOWN_NEWS, "known news") if known is not None else empty(KNOWN_NEWS)
    known_rows = known.select(
        "news_id", "canonical_url", "published_at",
        title_key=title_key(pl.col("title"), pl.col("publisher")),
        _known=pl.lit(True),
    )
    new_rows = clean_rows.with_columns(_known=pl.lit(False))
    rows = pl.concat([new_rows, known_rows], how="diagonal_relaxed").with_row_index("_row")
    rows = rows.with_columns(_label=_components(rows))
    # a null-URL row has no URL link; it may still match by title, which is fine: it then
    # takes the story's id. One without either stays alone (its own label).
    story_id = (
        rows.sort(
            pl.col("_known").not_(), pl.col("news_id").is_null(), "published_at",
            "published_estimated", "_row", nulls_last=True,
        )
        .group_by("_label", maintain_order=True)
        .agg(_story=pl.col("news_id").first())
    )
    new = rows.filter(~pl.col("_known")).join(story_id, on="_label", how="left")
    new = new.with_columns(news_id=pl.col("_story"))
    core = (
        new.sort("published_estimated", "published_at", "_row", nulls_last=True)
        .group_by("_label", maintain_order=True)
        .agg(
            pl.all().exclude("_label", "_story", "_known", "_row", "related_tickers").first(),
            related_tickers=pl.col("related_tickers")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .drop_nulls().unique().sort(),
            sources=pl.col("source").unique(maintain_order=True).sort(),
            n_channels=pl.struct("source", "channel").n_unique().cast(pl.Int64),
        )
    )
    source_rows = (
        new.filter(pl.col("news_id").is_not_null())
        .sort("published_at", "_row", nulls_last=True)
        .group_by("news_id", "source", "channel", maintain_order=True)
        .agg(pl.col("canonical_url", "url", "item_id", "published_at", "fetched_at").first())
    )
    return (
        conform(core.sort("published_at", "news_id", nulls_last=True), CORE_NEWS, "core news"),
        conform(source_rows.sort("news_id", "source", "channel"), NEWS_SOURCE, "news source"),
    )

