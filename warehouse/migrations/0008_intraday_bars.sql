-- Hourly bars (1 h, regular sessions, UTC) beside the daily ones: the move before the US
-- cash open, and each venue's day-0 path. Optional per ticker; validated by the
-- core_intraday suite (expectations/intraday.py); quarantined rows go to audit.quarantine
-- with dataset 'intraday'.

CREATE TABLE IF NOT EXISTS core.fact_price_intraday (
    ticker VARCHAR NOT NULL,
    bar_start_utc TIMESTAMPTZ NOT NULL,
    interval VARCHAR NOT NULL,
    session_date DATE NOT NULL,
    open DOUBLE,
    high DOUBLE,
    low DOUBLE,
    close DOUBLE NOT NULL,
    volume DOUBLE,
    source VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (ticker, bar_start_utc)
);

COMMENT ON TABLE core.fact_price_intraday IS 'Hourly bars of the regular session: one row per (ticker, bar_start_utc), as traded in the listing currency. Yahoo serves 1 h bars for the last 730 days only; the snapshot has them for a few instruments around DeepSeek Monday; tickers without them have no rows (intraday measures are then null, never guessed).';
COMMENT ON COLUMN core.fact_price_intraday.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN core.fact_price_intraday.bar_start_utc IS 'Start of the bar (UTC). Bars are aligned to the venue''s open (NYSE: 14:30, 15:30, ... UTC in winter).';
COMMENT ON COLUMN core.fact_price_intraday.interval IS 'Bar length as the source names it: 1h.';
COMMENT ON COLUMN core.fact_price_intraday.session_date IS 'Local date of the venue session whose [open, close) holds the bar''s start (core.dim_session); CME Globex sessions open the previous evening.';
COMMENT ON COLUMN core.fact_price_intraday.open IS 'Bar open (listing currency, as traded).';
COMMENT ON COLUMN core.fact_price_intraday.high IS 'Bar high.';
COMMENT ON COLUMN core.fact_price_intraday.low IS 'Bar low.';
COMMENT ON COLUMN core.fact_price_intraday.close IS 'Bar close.';
COMMENT ON COLUMN core.fact_price_intraday.volume IS 'Bar volume (indices carry 0).';
COMMENT ON COLUMN core.fact_price_intraday.source IS 'Where the bar came from: yahoo, snapshot or demo (demo data is synthetic).';
COMMENT ON COLUMN core.fact_price_intraday.run_id IS 'The run that last wrote this row (audit.etl_run.run_id).';
