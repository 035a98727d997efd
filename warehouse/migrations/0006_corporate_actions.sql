-- Corporate actions: cash dividends and splits by ex-date, as the price source reports them
-- (Yahoo's chart events). Prices keep their own adjustment (adj_close); this table says why a
-- close moved without a reaction, and lets users rebuild any adjustment they prefer.

CREATE TABLE IF NOT EXISTS core.fact_corporate_action (
    ticker VARCHAR NOT NULL,
    ex_date DATE NOT NULL,
    action VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (ticker, ex_date, action)
);

COMMENT ON TABLE core.fact_corporate_action IS 'Cash dividends and stock splits: one row per (ticker, ex_date, action), as the price source reports them (Yahoo chart events; the snapshot and demo sources carry none).';
COMMENT ON COLUMN core.fact_corporate_action.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN core.fact_corporate_action.ex_date IS 'Ex-date: the listing''s local session date from which the share trades without the dividend, or after the split.';
COMMENT ON COLUMN core.fact_corporate_action.action IS 'dividend or split.';
COMMENT ON COLUMN core.fact_corporate_action.value IS 'dividend: cash per share in the listing currency; split: shares after / shares before (10.0 for a 10-for-1 split, 0.1 for a 1-for-10 reverse split).';
COMMENT ON COLUMN core.fact_corporate_action.source IS 'Where the action came from: yahoo (the only source that reports them).';
COMMENT ON COLUMN core.fact_corporate_action.run_id IS 'The run that last wrote this row (audit.etl_run.run_id).';
