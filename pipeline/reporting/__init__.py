"""Reporting: the demo's summary, ready SQL queries and the notebook report."""
