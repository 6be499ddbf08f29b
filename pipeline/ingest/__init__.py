"""Ingestion: fetch call windows with the client and land them with the warehouse writer."""
