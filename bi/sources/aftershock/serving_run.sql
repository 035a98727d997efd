-- Which ETL run the serving copy holds.
SELECT DISTINCT run_id, run_status, CAST(published_at AS VARCHAR) AS published_at_utc,
       storage_version
FROM audit.serving_manifest
