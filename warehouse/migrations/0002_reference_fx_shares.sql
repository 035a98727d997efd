-- Reference data for the value-moved measures: daily FX and shares outstanding (core).
-- Idempotent. Rows come from transforms.value_moved.fx_to_core / shares_to_core (one row per
-- natural key, unusable and conflicting values already quarantined) and are upserted by key.

CREATE TABLE IF NOT EXISTS core.fact_fx_daily (
    currency VARCHAR NOT NULL,
    session_date DATE NOT NULL,
    usd_per_unit DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (currency, session_date)
);

CREATE TABLE IF NOT EXISTS core.fact_shares_outstanding (
    ticker VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    shares_outstanding DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (ticker, as_of_date)
);

COMMENT ON TABLE core.fact_fx_daily IS 'Daily FX for converting listing-currency amounts to US dollars: one row per (currency, session_date). USD itself has no rows (1 by definition).';
COMMENT ON COLUMN core.fact_fx_daily.currency IS 'ISO 4217 code of the listing currency (JPY, KRW, TWD, HKD, CNY, EUR, ...).';
COMMENT ON COLUMN core.fact_fx_daily.session_date IS 'Date of the FX bar in the FX feed''s own time zone (Yahoo: Europe/London); value-moved uses the latest rate on or before a listing''s session date, at most 7 days old.';
COMMENT ON COLUMN core.fact_fx_daily.usd_per_unit IS 'US dollars per ONE unit of currency (JPY ~0.0067, EUR ~1.08): multiply a local amount by it to get USD. From Yahoo it is 1 / close of the {CCY}=X bar, which quotes units of CCY per dollar.';
COMMENT ON COLUMN core.fact_fx_daily.source IS 'Where the rate came from: yahoo, snapshot or demo (demo data is synthetic).';
COMMENT ON COLUMN core.fact_fx_daily.run_id IS 'The run that last wrote this row (audit.etl_run.run_id).';

COMMENT ON TABLE core.fact_shares_outstanding IS 'Shares outstanding, stepwise: one row per (ticker, as_of_date) at which the source reports a count; the count holds until the next row. Only equities and ADRs.';
COMMENT ON COLUMN core.fact_shares_outstanding.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN core.fact_shares_outstanding.as_of_date IS 'Date the source stamps the count with (Yahoo: the UTC date of its timeseries point); value-moved uses the latest count on or before the day -1 session, at most 400 days old.';
COMMENT ON COLUMN core.fact_shares_outstanding.shares_outstanding IS 'Number of shares (a plain count, not millions), as reported, not split-adjusted. For an ADR the source''s count of ADS-equivalents.';
COMMENT ON COLUMN core.fact_shares_outstanding.source IS 'Where the count came from: yahoo, snapshot or demo (demo data is synthetic).';
COMMENT ON COLUMN core.fact_shares_outstanding.run_id IS 'The run that last wrote this row (audit.etl_run.run_id).';
