"""The run log's schema version (the full per-kind schema and the validator build on it)."""

SCHEMA_VERSION = 1
