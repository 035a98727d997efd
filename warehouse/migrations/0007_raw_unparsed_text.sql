-- raw.price_daily keeps the source's own text of the cells that did not parse: a row with
-- `N/A` in its close is landed (close null, unparsed {"close":"N/A"}) and quarantined as
-- value_unparseable, instead of its whole file being refused. Null on every row that parsed,
-- so the rows landed before this migration keep their row_hash.

ALTER TABLE raw.price_daily ADD COLUMN unparsed VARCHAR;

COMMENT ON COLUMN raw.price_daily.unparsed IS 'The source''s text of the cells that did not parse, as a JSON object (column -> text, e.g. {"close":"N/A"}; the parsed value is then null); null when every cell parsed. Such a row is quarantined as value_unparseable (audit.quarantine keeps the text too).';
