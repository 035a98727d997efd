-- 0003: news tables (raw, core, audit). The news marts are derived: see ../news_marts.sql.
-- News tables. Idempotent (CREATE ... IF NOT EXISTS): warehouse.news_load.apply_news_schema runs
-- the whole file, and flows.news_tasks.refresh_news calls it before loading.
-- Integration with the migration scheme (warehouse/migrations/README.md): PART 1 (raw, core,
-- audit: stateful) is the body of a numbered migration (e.g. migrations/0003_news.sql);
-- PART 2 (marts: derived) belongs in marts.sql. Both parts are safe to run again.
-- raw: as fetched; core: one row per story / link; marts: what BI reads; audit: fetch status.

-- PART 1: stateful ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS audit;

-- raw ---------------------------------------------------------------------------------------
-- grain: one row per distinct fetched version of an item (source, channel, text, url, date)
CREATE TABLE IF NOT EXISTS raw.news (
    source VARCHAR NOT NULL, channel VARCHAR NOT NULL, item_id VARCHAR,
    title VARCHAR, summary VARCHAR, url VARCHAR, publisher VARCHAR,
    published_raw VARCHAR, published_at TIMESTAMPTZ, related_tickers VARCHAR[],
    fetched_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    row_hash UBIGINT NOT NULL  -- hash of the fetched values: a re-fetch of the same item is not re-landed
);

-- core --------------------------------------------------------------------------------------
-- grain: one row per story (news_id = first 32 hex digits of sha256(canonical_url))
CREATE TABLE IF NOT EXISTS core.fact_news (
    news_id VARCHAR PRIMARY KEY, canonical_url VARCHAR NOT NULL, url VARCHAR NOT NULL,
    title VARCHAR NOT NULL, summary VARCHAR, publisher VARCHAR,
    published_at TIMESTAMPTZ NOT NULL, published_from VARCHAR NOT NULL,
    published_estimated BOOLEAN NOT NULL, tz_assumed BOOLEAN NOT NULL,
    sentiment DOUBLE NOT NULL, source VARCHAR NOT NULL, sources VARCHAR[] NOT NULL,
    n_channels BIGINT NOT NULL, quality_flags VARCHAR[] NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL, last_seen_at TIMESTAMPTZ NOT NULL,
    first_run_id VARCHAR NOT NULL, last_run_id VARCHAR NOT NULL
);
-- grain: one row per (story, source, channel) that carried it
CREATE TABLE IF NOT EXISTS core.news_source (
    news_id VARCHAR NOT NULL, source VARCHAR NOT NULL, channel VARCHAR NOT NULL,
    canonical_url VARCHAR, url VARCHAR, item_id VARCHAR, published_at TIMESTAMPTZ,
    first_seen_at TIMESTAMPTZ NOT NULL, last_seen_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (news_id, source, channel)
);
-- grain: one row per (story, entity): tickers, labs and models a story names
CREATE TABLE IF NOT EXISTS core.bridge_news_entity (
    news_id VARCHAR NOT NULL, entity_type VARCHAR NOT NULL, entity_id VARCHAR NOT NULL,
    matched VARCHAR, method VARCHAR NOT NULL, in_title BOOLEAN NOT NULL, mentions BIGINT NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (news_id, entity_type, entity_id)
);

-- audit -------------------------------------------------------------------------------------
-- grain: one row per (run, source, channel) asked
CREATE TABLE IF NOT EXISTS audit.news_fetch_status (
    run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, channel VARCHAR NOT NULL,
    status VARCHAR NOT NULL, rows BIGINT NOT NULL, message VARCHAR
);

