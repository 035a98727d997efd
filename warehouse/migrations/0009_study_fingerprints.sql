-- Incremental marts: the fingerprint of each study's inputs when its marts were last built
-- (transforms/study_inputs.py). A daily run rebuilds only the studies whose fingerprint
-- changed (new sessions in the window, a changed price, a new or changed event nearby) and
-- deletes those no longer in the catalog; `aftershock run --rebuild-marts` rebuilds all.

CREATE TABLE IF NOT EXISTS audit.study_fingerprint (
    event_id VARCHAR NOT NULL,
    anchor VARCHAR NOT NULL,
    fingerprint UBIGINT NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (event_id, anchor)
);

COMMENT ON TABLE audit.study_fingerprint IS 'One row per study (event_id, anchor) whose reaction marts are in the warehouse: the hash of every input its marts were built from, and the run that built them. A run rebuilds a study only when this hash changes.';
COMMENT ON COLUMN audit.study_fingerprint.event_id IS 'Event identifier (core.dim_event.event_id).';
COMMENT ON COLUMN audit.study_fingerprint.anchor IS 'announcement or attention, as in marts.event_reaction.anchor.';
COMMENT ON COLUMN audit.study_fingerprint.fingerprint IS 'Wrapping 64-bit sum of the hashes of the study''s inputs: day 0 rows and session calendar over its span, the event and its neighbours, each security''s dimension row and its and its benchmark''s price rows in the span, hourly bars, shares, FX, the engine configuration (transforms/study_inputs.py).';
COMMENT ON COLUMN audit.study_fingerprint.run_id IS 'The run (audit.etl_run.run_id) that last built the study''s marts.';
