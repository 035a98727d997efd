"""Prefect flows and the CLI: they wire sources, transforms, expectations and the warehouse."""
