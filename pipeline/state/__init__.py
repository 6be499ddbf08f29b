"""The Dagster instance the ``pipeline`` command records its runs in, and what it holds.

:mod:`pipeline.state.instance` opens the persistent instance (``DAGSTER_HOME``, default
``.dagster/`` in the working directory) that ``pipeline demo`` / ``ingest`` write and
``dagster dev`` reads, with :mod:`pipeline.state.event_log`'s storage (Dagster's SQLite files,
written in batches); :mod:`pipeline.state.status` summarises it for ``pipeline status``.
"""
