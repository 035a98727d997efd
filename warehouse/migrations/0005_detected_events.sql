-- Detected events: AI model releases found in the news that the catalog does not know yet
-- (transforms/detection.py). They live in core.dim_event next to the catalog with
-- origin = 'detected' and ids 'detected-<name>'; a catalog row is never overwritten.
-- Catalog rows get confidence 1.0 and null detection columns.

ALTER TABLE core.dim_event ADD COLUMN confidence DOUBLE;
ALTER TABLE core.dim_event ADD COLUMN first_seen_at TIMESTAMPTZ;
ALTER TABLE core.dim_event ADD COLUMN detected_by VARCHAR;
ALTER TABLE core.dim_event ADD COLUMN detection_stories BIGINT;
ALTER TABLE core.dim_event ADD COLUMN detection_sources BIGINT;

UPDATE core.dim_event SET confidence = 1.0 WHERE origin = 'catalog';

COMMENT ON COLUMN core.dim_event.origin IS 'catalog: curated in warehouse/seeds/events.csv; detected: found in the news (a lab''s post or a burst of stories naming a model the catalog does not know), id detected-<name>.';
COMMENT ON COLUMN core.dim_event.confidence IS 'How sure the event is, in [0, 1]: 1.0 for catalog events; for detected ones 1 - (1 - c_blog)(1 - c_burst), x 0.75 when the name is not of a known model family (docs/news.md, "Event detection").';
COMMENT ON COLUMN core.dim_event.first_seen_at IS 'Detected events: publication instant (UTC) of the first story whose title named the model; null for catalog events.';
COMMENT ON COLUMN core.dim_event.detected_by IS 'Detected events: the evidence, lab_blog (a post on a lab''s feed), burst (at least 3 stories in 48 h from at least 2 outlets) or lab_blog+burst; null for catalog events.';
COMMENT ON COLUMN core.dim_event.detection_stories IS 'Detected events: stories whose title names the model; null for catalog events.';
COMMENT ON COLUMN core.dim_event.detection_sources IS 'Detected events: distinct outlets (publisher, or source when unknown) among those stories; null for catalog events.';
