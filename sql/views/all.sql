-- Creates every reporting view (TEMP: this session only) on a connection to the warehouse.
-- DuckDB command line, from the repository root (paths are relative to the working folder):
--     duckdb -readonly data/calls.duckdb -c ".read sql/views/all.sql" -c "FROM calls_enriched LIMIT 5"
-- The project code runs the same files (pipeline.reporting.views.apply_views).
SET TimeZone = 'UTC';
.read sql/views/country_codes.sql
.read sql/views/calls_enriched.sql
