"""DuckDB warehouse: connections (UTC, one writer), schema from ``sql/schema``, raw landing."""
