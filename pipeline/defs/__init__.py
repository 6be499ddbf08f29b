"""The Dagster building blocks: assets, checks, resources, partitions, jobs and schedules."""
