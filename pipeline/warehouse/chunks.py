"""Split a refresh's buckets into chunks of whole buckets, so memory follows the chunk.

A refresh of a long range (a backfill, the rebuild of the daily tables over all history when
the report time zone changes) would otherwise read every call of the range into one Polars
frame (~260 MB per million calls). :func:`bucket_chunks` cuts the buckets a range owns
(:mod:`pipeline.warehouse.ownership`) into consecutive chunks of at most ``days`` days: UTC
hours ``days * 24`` at a time, local days ``days`` at a time. Each chunk is built alone
from the calls created in its own buckets plus its lookback (``MAX_CALL_DURATION`` before
them, for the occupancy tables), so the peak memory of a refresh depends on the calls of one
chunk and its lookback, not on the range's length. A bucket's rows depend only on those
calls, so the chunks' rows are the rows of the whole range built at once.
"""

from __future__ import annotations

from datetime import timedelta

from pipeline.transforms.buckets import LocalDays, UtcHours

#: Days of buckets built per chunk (the occupancy tables also read 24 h before each chunk).
#: At ~1 M calls a day a chunk reads ~3 M calls (~0.8 GB as a Polars frame).
CHUNK_DAYS = 2


def bucket_chunks(
    buckets: UtcHours | LocalDays, days: int | None = None
) -> list[UtcHours | LocalDays]:
    """``buckets`` cut into consecutive chunks of whole buckets, in order.

    Args:
        buckets: UTC hours or local days (the range a refresh owns).
        days: days of buckets per chunk (> 0); None: :data:`CHUNK_DAYS` (read at call time,
            so a test may set it).

    Returns:
        Chunks covering ``buckets`` exactly, the same type: ``UtcHours`` of at most
        ``days * 24`` hours, or ``LocalDays`` of at most ``days`` local dates (with the same
        zone). A range shorter than a chunk is returned as is.

    Raises:
        ValueError: ``days < 1``.
    """
    size = CHUNK_DAYS if days is None else days
    if size < 1:
        msg = f"chunk size must be at least one day, got {size}"
        raise ValueError(msg)
    chunks: list[UtcHours | LocalDays] = []
    if isinstance(buckets, UtcHours):
        step = timedelta(hours=24 * size)
        hour = buckets.start
        while hour < buckets.end:
            chunks.append(UtcHours(hour, min(hour + step, buckets.end)))
            hour += step
        return chunks
    day = buckets.start_date
    while day < buckets.end_date:
        last = min(day + timedelta(days=size), buckets.end_date)
        chunks.append(LocalDays(day, last, buckets.report_tz))
        day = last
    return chunks
