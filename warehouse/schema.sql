-- Aftershock warehouse DDL. Idempotent: applied on every writable connection.
-- raw: as fetched (each distinct version of a row once, with the run that first saw it)
-- core: conformed, one row per natural key; marts: what BI reads; audit: runs and quality.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.schema_version (
    version INTEGER NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);

-- raw ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS raw.price_daily (
    ticker VARCHAR, session_date DATE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
    adj_close DOUBLE, volume DOUBLE, source VARCHAR, fetched_at TIMESTAMPTZ,
    run_id VARCHAR NOT NULL,
    row_hash UBIGINT NOT NULL  -- hash of the fetched values: a re-fetch of the same row is not re-landed
);

-- core --------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.dim_security (
    ticker VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, segment VARCHAR NOT NULL,
    exchange_mic VARCHAR NOT NULL, currency VARCHAR NOT NULL, country VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, benchmark VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS core.dim_event (
    event_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, lab VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, announced_date DATE NOT NULL, announced_at TIMESTAMPTZ NOT NULL,
    announced_precision VARCHAR NOT NULL, open_weights BOOLEAN NOT NULL,
    lab_country VARCHAR NOT NULL, source_url VARCHAR, origin VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS core.dim_session (
    exchange_mic VARCHAR NOT NULL, session_date DATE NOT NULL, session_idx BIGINT NOT NULL,
    open_utc TIMESTAMPTZ NOT NULL, close_utc TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange_mic, session_date)
);
CREATE TABLE IF NOT EXISTS core.fact_price_daily (
    ticker VARCHAR NOT NULL, session_date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE,
    close DOUBLE NOT NULL, adj_close DOUBLE NOT NULL, volume DOUBLE, currency VARCHAR,
    source VARCHAR NOT NULL, quality_flags VARCHAR[] NOT NULL, run_id VARCHAR NOT NULL,
    PRIMARY KEY (ticker, session_date)
);
CREATE TABLE IF NOT EXISTS core.fact_event_day0 (
    event_id VARCHAR NOT NULL, exchange_mic VARCHAR NOT NULL, day0 DATE NOT NULL,
    day0_close_utc TIMESTAMPTZ NOT NULL, closed_market BOOLEAN NOT NULL,
    PRIMARY KEY (event_id, exchange_mic)
);

-- audit -------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS audit.etl_run (
    run_id VARCHAR PRIMARY KEY, flow VARCHAR NOT NULL, source VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, status VARCHAR NOT NULL,
    params JSON, error VARCHAR
);
CREATE TABLE IF NOT EXISTS audit.etl_run_count (
    run_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL, stage VARCHAR NOT NULL,
    rows BIGINT NOT NULL, PRIMARY KEY (run_id, dataset, stage)
);
CREATE TABLE IF NOT EXISTS audit.extract_status (
    run_id VARCHAR NOT NULL, ticker VARCHAR NOT NULL, source VARCHAR NOT NULL,
    status VARCHAR NOT NULL, rows BIGINT NOT NULL, message VARCHAR
);
CREATE TABLE IF NOT EXISTS audit.quarantine (
    run_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL, row_key VARCHAR NOT NULL,
    row_json JSON NOT NULL, reasons VARCHAR[] NOT NULL, quarantined_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS audit.validation_result (
    run_id VARCHAR NOT NULL, suite VARCHAR NOT NULL, expectation VARCHAR NOT NULL,
    gx_type VARCHAR, severity VARCHAR NOT NULL, success BOOLEAN NOT NULL,
    element_count BIGINT, unexpected_count BIGINT, sample VARCHAR
);
