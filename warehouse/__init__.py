"""The DuckDB warehouse: DDL, connections, loaders, mart SQL and the seeds."""
