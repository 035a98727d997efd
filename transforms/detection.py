"""Event detection: AI model releases the catalog does not know yet, found in the news (pure).

The catalog (``warehouse/seeds/events.csv``) is curated by hand and lags the world. A model
that ships between two edits of it still moves the market, and the news sees it first. Two
kinds of evidence make a **detected event** (``core.dim_event`` row with origin
``detected``):

* **a lab's blog post** whose title names an unknown model ("Introducing Llama 5"), read
  from a lab feed (``feeds.toml`` ``kind = "lab"``), or
* **a burst**: at least :data:`BURST_MIN_STORIES` stories within :data:`BURST_WINDOW` (48 h)
  whose titles name the same unknown model, from at least :data:`BURST_MIN_SOURCES`
  different outlets (publisher, or the source when the publisher is unknown).

**Model names** are found in titles with :data:`MODEL_NAME` (a family word, an optional tier,
a version: "Qwen3", "Llama 5", "GPT-6", "Grok 5", "DeepSeek-V4", "Claude Opus 5", "Kimi K3",
"o5-mini"). A name is *model-like* when its family word is a known model family or lab
(:data:`FAMILIES`), or when a title naming it also says it is a model ("model", "LLM",
"chatbot", "reasoning", "open-weight" ...; :data:`MODEL_CONTEXT`; then every story naming
it counts) and the word is not one of the ordinary words that take numbers
(:data:`NOT_MODELS`: "Section 230", "Windows 11", "RTX 5090", "COVID-19", "Model 3",
months). Years ("GTC 2025", "DevDay 2024") are never versions.

A name is **known** when its key (lower case, spaces and hyphens removed: "Llama-3.1" and
"Llama 3.1" are both ``llama3.1``) is the key of a model alias of the seeds (``feeds.toml``
``[entities.models]``) or of a name in the catalog's event names, once parameter counts and
packaging suffixes are dropped ("Llama-3.1-70B-Instruct" is Llama 3.1). "GPT-4o" is known;
"GPT-4o-mini" or "Qwen3-Coder" are new names, so new models.

**Never overwriting the catalog**: detected ids are namespaced ``detected-<slug of the
name>`` (``detected-llama-5``), a name the catalog knows is never detected, and
:func:`dim_event_rows` keeps catalog rows as they are. When the catalog later adds the model
(with its alias), the detection disappears on the next run by itself.

Per detected event:

* ``first_seen_at``: publication instant of the first story whose title names the model;
* ``announced_at``: when the evidence starts: the first lab post naming it, or the first
  story of its first qualifying burst, whichever is earlier (precision ``minute``);
* ``confidence`` in [0, 1]: ``1 - (1 - c_blog)(1 - c_burst)``, times 0.75 when the family
  word is not a known family (only the title's context made it model-like), rounded to 3
  decimals. ``c_blog`` = 0.8 for a post on a lab's own feed (0.6 on a lab feed without a
  lab, such as Hugging Face's blog), else 0. ``c_burst`` = min(0.9, 0.5 + 0.1 (outlets - 2)
  + 0.05 (stories - 3)) for its strongest 48-hour window, else 0;
* ``lab``: the lab of the lab feed that posted it, else the family's lab, else the lab the
  stories name most often (``entities``), else ``unknown``; ``lab_country`` from the catalog's
  labs, else :data:`LAB_COUNTRY`, else US (informational only: ``announced_at`` is an instant);
* ``open_weights``: a naming story's title says open weights or open source;
* ``detected_by`` (``lab_blog``, ``burst`` or ``lab_blog+burst``), ``detection_stories``,
  ``detection_sources``, ``news_ids`` (the stories naming it, for tagging).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

import polars as pl

from contracts import EVENTS
from transforms.calendar import LAB_TIMEZONE

DETECTED_PREFIX = "detected-"
ORIGIN_CATALOG = "catalog"
ORIGIN_DETECTED = "detected"
BURST_MIN_STORIES = 3
BURST_MIN_SOURCES = 2
BURST_WINDOW = timedelta(hours=48)
#: Confidence of a lab-feed post naming the model (own lab's feed / a lab feed without a lab).
BLOG_CONFIDENCE = 0.8
SHARED_BLOG_CONFIDENCE = 0.6
#: Factor on the confidence of a name whose family word is not a known model family.
CONTEXT_ONLY_FACTOR = 0.75

#: Model families and labs (lower case) -> the lab behind them.
FAMILIES: dict[str, str] = {
    "gpt": "OpenAI", "chatgpt": "OpenAI", "sora": "OpenAI", "codex": "OpenAI", "o": "OpenAI",
    "dall": "OpenAI", "llama": "Meta", "gemini": "Google", "gemma": "Google", "veo": "Google",
    "imagen": "Google", "palm": "Google", "bard": "Google", "claude": "Anthropic",
    "grok": "xAI", "qwen": "Alibaba", "qwq": "Alibaba", "deepseek": "DeepSeek",
    "kimi": "Moonshot AI", "mistral": "Mistral AI", "mixtral": "Mistral AI",
    "magistral": "Mistral AI", "codestral": "Mistral AI", "devstral": "Mistral AI",
    "phi": "Microsoft", "nemotron": "NVIDIA", "glm": "Zhipu AI", "chatglm": "Zhipu AI",
    "ernie": "Baidu", "hunyuan": "Tencent", "doubao": "ByteDance", "seed": "ByteDance",
    "minimax": "MiniMax", "nova": "Amazon", "titan": "Amazon", "granite": "IBM",
    "command": "Cohere", "falcon": "TII", "yi": "01.AI", "olmo": "Ai2", "jamba": "AI21",
    "stablelm": "Stability AI", "flux": "Black Forest Labs", "midjourney": "Midjourney",
}
#: Home country of labs outside the catalog (the catalog's own labs carry theirs).
LAB_COUNTRY: dict[str, str] = {
    "Zhipu AI": "CN", "Baidu": "CN", "Tencent": "CN", "ByteDance": "CN", "MiniMax": "CN",
    "01.AI": "CN", "Amazon": "US", "IBM": "US", "Cohere": "CA", "TII": "AE", "Ai2": "US",
    "AI21": "IL", "Stability AI": "GB", "Black Forest Labs": "DE", "Midjourney": "US",
}
#: Words that take numbers without being models (lower case).
NOT_MODELS = frozenset({
    "section", "title", "article", "rule", "part", "chapter", "phase", "stage", "level",
    "series", "class", "form", "schedule", "proposition", "amendment", "bill", "act",
    "windows", "office", "model", "pixel", "galaxy", "note", "watch", "vision", "surface",
    "xbox", "playstation", "switch", "ios", "android", "macos", "covid", "sars", "fy", "cy",
    "top", "fortune", "nasdaq", "dow", "russell", "stoxx", "nikkei", "kospi", "ftse", "dax",
    "cac", "sensex", "mi", "rtx", "gtx", "gb", "hbm", "ddr", "lpddr", "gddr", "pcie", "usb",
    "wifi", "wi", "gen", "generation", "vol", "volume", "issue", "no", "number", "day",
    "week", "year", "route", "area", "apollo", "boeing", "airbus", "tier", "group", "round",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "q", "h", "s", "es", "ex", "db", "ai",
    "leaderboard", "benchmark", "index", "edition", "update", "release", "version", "v",
})
#: Title words that say a name is a model (a regex, case-insensitive).
MODEL_CONTEXT = re.compile(
    r"\b(?:models?|llms?|language models?|chatbots?|reasoning|open[- ]weights?|"
    r"open[- ]source|multimodal|foundation models?|ai assistant|parameters?)\b",
    re.IGNORECASE,
)
OPEN_WEIGHTS = re.compile(r"\bopen[- ](?:weights?|source|sourced|model)\b", re.IGNORECASE)
#: Tier words that may sit between the family and the version ("Claude Opus 5").
_TIERS = ("Opus|Sonnet|Haiku|Flash|Pro|Ultra|Nano|Max|Mini|Turbo|Coder|Scout|Maverick|"
          "Behemoth|Thinking|Instant|Lite|Large|Medium|Small")
#: A model name in a title. Group ``stem`` is the family word; ``version`` its number.
MODEL_NAME = re.compile(
    r"(?<![\w.\-])(?:"
    r"(?P<oseries>o\d(?:-(?:mini|pro|preview))?)"
    r"|(?P<stem>[A-Z][A-Za-z]*[A-Za-z])"
    rf"(?:[ \-](?P<tier>{_TIERS}))?"
    r"[ \-]?(?P<version>[A-Z]?\d+(?:\.\d+)?[a-z]?)"
    r"(?P<suffix>(?:-[A-Za-z0-9]+)*)"
    r")(?![\w.\-]?\w)"
)
#: Suffix segments that do not make a new model (sizes, packaging).
_GENERIC_SUFFIX = re.compile(
    r"(?:-(?:\d+(?:\.\d+)?[bBmMkKtT]|\d+x\d+[bB]|[Ii]nstruct|[Cc]hat|[Bb]ase|it|GGUF|AWQ|FP8))+$"
)
_YEAR = re.compile(r"^(?:19|20)\d\d$")

#: detect_events' output: the EVENTS contract plus the detection columns.
DETECTED: dict[str, pl.DataType] = {
    **EVENTS,
    "origin": pl.String(),
    "confidence": pl.Float64(),
    "first_seen_at": pl.Datetime("us", "UTC"),
    "detected_by": pl.String(),
    "detection_stories": pl.Int64(),
    "detection_sources": pl.Int64(),
    "news_ids": pl.List(pl.String()),
}
#: core.dim_event's columns besides EVENTS (migration 0005 adds all but origin).
DIM_EVENT_EXTRA: dict[str, pl.DataType] = {
    k: v for k, v in DETECTED.items() if k not in EVENTS and k != "news_ids"
}


def model_key(name: str) -> str:
    """Comparable key of a model name: lower case, spaces and hyphens removed, size and
    packaging suffixes dropped ("Llama-3.1-70B-Instruct" -> "llama3.1")."""
    return re.sub(r"[\s\-]+", "", _GENERIC_SUFFIX.sub("", name.strip())).lower()


def _candidates(title: str | None) -> list[tuple[str, str, bool, bool]]:
    """(name, family word in lower case, known family, title says "model") for every name
    of a title that could be a model: years as versions and :data:`NOT_MODELS` left out."""
    if not title:
        return []
    out = []
    context = bool(MODEL_CONTEXT.search(title))
    for m in MODEL_NAME.finditer(title):
        if m.group("oseries"):
            out.append((m.group("oseries"), "o", True, context))
            continue
        stem, version = m.group("stem"), m.group("version")
        if _YEAR.match(version) or stem.lower() in NOT_MODELS:
            continue
        name = _GENERIC_SUFFIX.sub("", m.group(0))
        out.append((name, stem.lower(), stem.lower() in FAMILIES, context))
    return out


def find_model_names(title: str | None) -> list[tuple[str, str, bool]]:
    """(name, family word in lower case, known family) for each model-like name of a title:
    a known family's name, or any candidate name when the title says it is a model.
    (Across stories, :func:`detect_events` counts every mention of a name once one title
    has shown it to be a model.)"""
    return [(n, stem, fam) for n, stem, fam, ctx in _candidates(title) if fam or ctx]


def known_model_keys(catalog: pl.DataFrame, aliases: pl.DataFrame | None = None) -> set[str]:
    """Keys of every model name the seeds know: model aliases and names in event names."""
    names = list(catalog["name"].drop_nulls()) if "name" in catalog.columns else []
    if aliases is not None and aliases.height:
        names += aliases.filter(pl.col("entity_type") == "model")["alias"].to_list()
    keys = {model_key(n) for n in names}
    for text in names:
        for m in MODEL_NAME.finditer(text):
            keys.add(model_key(m.group(0)))
    return keys


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=DETECTED)


def detect_events(
    news: pl.DataFrame,
    entities: pl.DataFrame,
    catalog: pl.DataFrame,
    *,
    aliases: pl.DataFrame | None = None,
    lab_channels: Mapping[str, str | None] | None = None,
    min_stories: int = BURST_MIN_STORIES,
    min_sources: int = BURST_MIN_SOURCES,
    window: timedelta = BURST_WINDOW,
) -> pl.DataFrame:
    """Detected events (:data:`DETECTED`), one row per unknown model the news evidences.

    ``news``: one row per story: news_id, title, published_at, and if known publisher,
    source, url and ``channels`` (list of the channels that carried it; core.news_source).
    ``entities``: news_id, entity_type, entity_id (core.bridge_news_entity; lab tags
    attribute a model of an unknown family). ``catalog``: the EVENTS frame (core.dim_event's
    catalog rows). ``aliases``: the seeds' alias table (``transforms.entities.build_aliases``)
    for the known model names. ``lab_channels``: channel -> lab (or None) of every lab feed
    (``feed:<name>`` of the feeds with ``kind = "lab"``). See the module docstring.
    """
    if news.height == 0:
        return _empty()
    lab_channels = dict(lab_channels or {})
    stories = _normalise_news(news)
    known = known_model_keys(catalog, aliases)
    rows = []
    for story in stories.iter_rows(named=True):
        for name, stem, family, context in _candidates(story["title"]):
            key = model_key(name)
            if key in known:
                continue
            carried = [c for c in story["channels"] if c in lab_channels]
            rows.append({
                "news_id": story["news_id"], "published_at": story["published_at"],
                "outlet": story["outlet"], "url": story["url"], "name": name, "key": key,
                "stem": stem, "family": family, "context": context,
                "open": bool(OPEN_WEIGHTS.search(story["title"] or "")),
                "blog_lab": next((lab_channels[c] for c in carried if lab_channels[c]), None),
                "on_blog": bool(carried),
            })
    if not rows:
        return _empty()
    mentions = (
        pl.DataFrame(rows, schema={
            "news_id": pl.String, "published_at": pl.Datetime("us", "UTC"),
            "outlet": pl.String, "url": pl.String, "name": pl.String, "key": pl.String,
            "stem": pl.String, "family": pl.Boolean, "context": pl.Boolean,
            "open": pl.Boolean, "blog_lab": pl.String, "on_blog": pl.Boolean,
        })
        # a name is a model when its family is known or one of its titles says so
        .filter((pl.col("family") | pl.col("context")).any().over("key"))
        .unique(["key", "news_id"], keep="first", maintain_order=True)
        .sort("key", "published_at", "news_id")
    )
    bursts = _bursts(mentions, min_stories, min_sources, window)
    blogs = (
        mentions.filter("on_blog")
        .group_by("key")
        .agg(
            blog_at=pl.col("published_at").min(),
            blog_url=pl.col("url").sort_by("published_at").first(),
            blog_lab=pl.col("blog_lab").drop_nulls().first(),
        )
    )
    lab_votes = _lab_votes(mentions, entities)
    summary = (
        mentions.group_by("key")
        .agg(
            first_seen_at=pl.col("published_at").min(),
            first_url=pl.col("url").sort_by("published_at").first(),
            stem=pl.col("stem").first(),
            family=pl.col("family").first(),
            open_weights=pl.col("open").any(),
            detection_stories=pl.len().cast(pl.Int64),
            detection_sources=pl.col("outlet").n_unique().cast(pl.Int64),
            news_ids=pl.col("news_id").sort(),
        )
        .join(_surface_names(mentions), on="key")
        .join(bursts, on="key", how="left")
        .join(blogs, on="key", how="left")
        .join(lab_votes, on="key", how="left")
        .filter(pl.col("burst_start").is_not_null() | pl.col("blog_at").is_not_null())
    )
    if summary.height == 0:
        return _empty()
    return _finish(summary, catalog)


def _normalise_news(news: pl.DataFrame) -> pl.DataFrame:
    """news_id, title, published_at (UTC), outlet, url, channels (list) from what is given."""
    cols = news.columns
    outlet = pl.coalesce(
        [pl.col(c).cast(pl.String) for c in ("publisher", "source") if c in cols]
        + [pl.col("news_id")]
    )
    channels = (
        pl.col("channels").fill_null(pl.lit([], dtype=pl.List(pl.String)))
        if "channels" in cols else pl.lit([], dtype=pl.List(pl.String))
    )
    return news.filter(pl.col("published_at").is_not_null()).select(
        pl.col("news_id").cast(pl.String),
        pl.col("title").cast(pl.String),
        pl.col("published_at").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        outlet=pl.when(outlet.str.strip_chars() != "").then(outlet).otherwise(pl.col("news_id")),
        url=pl.col("url").cast(pl.String) if "url" in cols else pl.lit(None, pl.String),
        channels=channels,
    ).unique("news_id", keep="first", maintain_order=True)


def _bursts(
    mentions: pl.DataFrame, min_stories: int, min_sources: int, window: timedelta
) -> pl.DataFrame:
    """Per key: the start of its first qualifying window and its strongest window's
    burst confidence (null when no window of ``window`` qualifies)."""
    windows = (
        mentions.select("key", "published_at", "outlet")
        .sort("key", "published_at")
        .rolling(index_column="published_at", period=window, group_by="key")
        .agg(
            n=pl.len().cast(pl.Int64),
            outlets=pl.col("outlet").n_unique().cast(pl.Int64),
            start=pl.col("published_at").min(),
        )
        .filter((pl.col("n") >= min_stories) & (pl.col("outlets") >= min_sources))
    )
    strength = (
        0.5 + 0.1 * (pl.col("outlets") - min_sources) + 0.05 * (pl.col("n") - min_stories)
    ).clip(upper_bound=0.9)
    return windows.group_by("key").agg(
        burst_start=pl.col("start").sort_by("published_at").first(),
        c_burst=strength.max(),
    )


def _lab_votes(mentions: pl.DataFrame, entities: pl.DataFrame) -> pl.DataFrame:
    """Per key: the lab the naming stories tag most often (ties: alphabetical)."""
    if entities.height == 0:
        return pl.DataFrame(schema={"key": pl.String, "voted_lab": pl.String})
    labs = entities.filter(pl.col("entity_type") == "lab").select("news_id", lab="entity_id")
    return (
        mentions.select("key", "news_id").join(labs, on="news_id")
        .group_by("key", "lab").agg(n=pl.len())
        .sort(["key", "n", "lab"], descending=[False, True, False])
        .group_by("key", maintain_order=True)
        .agg(voted_lab=pl.col("lab").first())
    )


def _surface_names(mentions: pl.DataFrame) -> pl.DataFrame:
    """Per key: the spelling used most often (ties: the earliest)."""
    return (
        mentions.group_by("key", "name")
        .agg(n=pl.len(), first=pl.col("published_at").min())
        .sort(["key", "n", "first"], descending=[False, True, False])
        .group_by("key", maintain_order=True)
        .agg(name=pl.col("name").first())
    )


def _finish(summary: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """Labs, countries, instants, confidence and ids; the DETECTED frame."""
    families = pl.DataFrame(
        {"stem": list(FAMILIES), "family_lab": list(FAMILIES.values())}
    )
    countries = (
        catalog.select("lab", "lab_country").unique("lab", keep="first", maintain_order=True)
        if {"lab", "lab_country"} <= set(catalog.columns)
        else pl.DataFrame(schema={"lab": pl.String, "lab_country": pl.String})
    )
    extra = pl.DataFrame({"lab": list(LAB_COUNTRY), "extra_country": list(LAB_COUNTRY.values())})
    c_blog = (
        pl.when(pl.col("blog_at").is_null()).then(0.0)
        .when(pl.col("blog_lab").is_not_null()).then(BLOG_CONFIDENCE)
        .otherwise(SHARED_BLOG_CONFIDENCE)
    )
    c_burst = pl.col("c_burst").fill_null(0.0)
    confidence = (1.0 - (1.0 - c_blog) * (1.0 - c_burst)) * pl.when(pl.col("family")).then(
        1.0).otherwise(CONTEXT_ONLY_FACTOR)
    by = (
        pl.when(pl.col("blog_at").is_not_null() & pl.col("burst_start").is_not_null())
        .then(pl.lit("lab_blog+burst"))
        .when(pl.col("blog_at").is_not_null()).then(pl.lit("lab_blog"))
        .otherwise(pl.lit("burst"))
    )
    out = (
        summary.join(families, on="stem", how="left")
        .with_columns(
            lab=pl.coalesce("blog_lab", "family_lab", "voted_lab", pl.lit("unknown")),
            announced_at=pl.min_horizontal("blog_at", "burst_start"),
            confidence=confidence.round(3),
            detected_by=by,
            source_url=pl.coalesce("blog_url", "first_url"),
        )
        .join(countries, on="lab", how="left")
        .join(extra, on="lab", how="left")
        .with_columns(
            lab_country=pl.coalesce("lab_country", "extra_country", pl.lit("US")),
            event_id=pl.lit(DETECTED_PREFIX)
            + pl.col("name").map_elements(_slug, return_dtype=pl.String),
        )
        .filter(~pl.col("event_id").is_in(catalog["event_id"].implode()))
        .sort("first_seen_at", "key")
        .unique("event_id", keep="first", maintain_order=True)
    )
    local = [
        out.filter(pl.col("lab_country") == country).with_columns(
            announced_date=pl.col("announced_at").dt.convert_time_zone(tz).dt.date()
        )
        for country, tz in LAB_TIMEZONE.items()
    ]
    out = pl.concat(
        [*local, out.filter(~pl.col("lab_country").is_in(list(LAB_TIMEZONE))).with_columns(
            announced_date=pl.col("announced_at").dt.date())]
    )
    return (
        out.with_columns(
            kind=pl.lit("model_release"),
            announced_precision=pl.lit("minute"),
            origin=pl.lit(ORIGIN_DETECTED),
        )
        .select(pl.col(c).cast(t) for c, t in DETECTED.items())
        .sort("announced_at", "event_id")
    )


def detected_tags(detected: pl.DataFrame) -> pl.DataFrame:
    """(news_id, entity_type 'model', entity_id = detected event_id) for every story naming
    a detected model: what the entity tagger would say had the catalog known it."""
    return (
        detected.select("event_id", "news_ids")
        .explode("news_ids")
        .drop_nulls("news_ids")
        .select(
            news_id=pl.col("news_ids"),
            entity_type=pl.lit("model"),
            entity_id=pl.col("event_id"),
            in_title=pl.lit(True),
        )
    )


def dim_event_rows(catalog: pl.DataFrame, detected: pl.DataFrame | None = None) -> pl.DataFrame:
    """core.dim_event rows: the catalog (origin 'catalog', confidence 1.0, no detection
    columns) and the detected events whose ids the catalog does not hold."""
    rows = catalog.select(*EVENTS).with_columns(
        origin=pl.lit(ORIGIN_CATALOG),
        confidence=pl.lit(1.0),
        first_seen_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        detected_by=pl.lit(None, dtype=pl.String),
        detection_stories=pl.lit(None, dtype=pl.Int64),
        detection_sources=pl.lit(None, dtype=pl.Int64),
    )
    frames = [rows.select(pl.col(c).cast(t) for c, t in (EVENTS | DIM_EVENT_EXTRA).items())]
    if detected is not None and detected.height:
        new = detected.filter(~pl.col("event_id").is_in(catalog["event_id"].implode()))
        frames.append(new.select(pl.col(c).cast(t) for c, t in (EVENTS | DIM_EVENT_EXTRA).items()))
    return pl.concat(frames)


__all__ = [
    "DETECTED",
    "DETECTED_PREFIX",
    "DIM_EVENT_EXTRA",
    "detect_events",
    "detected_tags",
    "dim_event_rows",
    "find_model_names",
    "known_model_keys",
    "model_key",
]
