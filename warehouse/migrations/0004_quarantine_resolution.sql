-- Quarantine replay and the per-ticker gap report.
--
-- audit.quarantine: a quarantined row stays "open" until a replay (aftershock quarantine
-- replay) loads it or finds it superseded; then the replay run and time are recorded. Nothing
-- is ever deleted: the row, its reasons and the run that quarantined it stay as evidence.
-- audit.gap_report: per run and ticker, the sessions of the ticker's venue between its first
-- and last loaded row that have no row (expectations.prices.gap_report).

ALTER TABLE audit.quarantine ADD COLUMN resolved_run_id VARCHAR;
ALTER TABLE audit.quarantine ADD COLUMN resolved_at TIMESTAMPTZ;
ALTER TABLE audit.quarantine ADD COLUMN resolution VARCHAR;

CREATE TABLE IF NOT EXISTS audit.gap_report (
    run_id VARCHAR NOT NULL,
    ticker VARCHAR NOT NULL,
    exchange_mic VARCHAR NOT NULL,
    first_session DATE NOT NULL,
    last_session DATE NOT NULL,
    expected_sessions BIGINT NOT NULL,
    present BIGINT NOT NULL,
    missing BIGINT NOT NULL,
    first_missing DATE,
    last_missing DATE,
    missing_dates DATE[] NOT NULL,
    PRIMARY KEY (run_id, ticker)
);

COMMENT ON COLUMN audit.quarantine.resolved_run_id IS 'The quarantine-replay run (audit.etl_run, flow quarantine-replay) that closed this row; null while the row is open.';
COMMENT ON COLUMN audit.quarantine.resolved_at IS 'When that replay committed; null while open.';
COMMENT ON COLUMN audit.quarantine.resolution IS 'replayed: re-validated with the current suite, passed and loaded; superseded: a newer version of the same key was loaded first (a later run or a later quarantine of the key), so this copy was not loaded. Null while open.';
COMMENT ON TABLE audit.gap_report IS 'Per run and ticker: sessions of the ticker''s venue (exchange calendar) between its first and last row that have no row. A late listing or a short history is not a gap.';
COMMENT ON COLUMN audit.gap_report.missing_dates IS 'Every missing session date, ascending.';
