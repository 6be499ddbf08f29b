"""What the per-record ``raw`` costs, and whether slicing the page body once is cheaper (issue 15).

Run by hand (not a test); results go to ``bench/README.md`` ("Ingest floor (issue 15)"):

    uv run python bench/raw_text.py            # 4 busy hours of sandbox pages, 5 rounds

Per 1000-call page, each way of building the Arrow ``raw`` column from a decoded page:

* ``dumps``: ``orjson.dumps`` per record (what ``raw.calls.raw`` holds today:
  :func:`pipeline.sinch.columnar.raw_texts`);
* ``slices``: the records' original text cut out of the page body: a NumPy scan finds the
  top-level objects of the ``calls`` array (quotes not escaped by an odd run of backslashes,
  brackets outside strings), one Arrow string array over the body with those offsets;
* ``decode``: the page's ``orjson.loads`` alone, for scale.

It also checks that every slice decodes to the very record it stands for (every field
recoverable). Prints the median ms per page of each; CPU time (``process_time``).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sandbox_pages import page_bodies

from pipeline.sandbox.settings import SandboxSettings
from pipeline.sinch.columnar import raw_texts

_Q, _BS = ord('"'), ord("\\")
_OPEN, _CLOSE = np.array([ord("{"), ord("[")]), np.array([ord("}"), ord("]")])


def record_slices(body: bytes) -> pa.Array:
    """The text of each element of the envelope's ``calls`` array (objects), from the body."""
    b = np.frombuffer(body, dtype=np.uint8)
    n = b.size
    idx = np.arange(n)
    backslash = b == _BS
    last_other = np.maximum.accumulate(np.where(~backslash, idx, -1))
    before = np.concatenate(([-1], last_other[:-1]))  # last non-backslash before each byte
    run = idx - 1 - before  # backslashes right before each byte
    quote = (b == _Q) & (run % 2 == 0)
    inside = (np.cumsum(quote) % 2 == 1) & ~quote  # bytes inside a string
    opens = np.isin(b, _OPEN) & ~inside
    closes = np.isin(b, _CLOSE) & ~inside
    depth = np.cumsum(opens.astype(np.int32) - closes.astype(np.int32))
    starts = np.flatnonzero(opens & (depth == 3) & (b == ord("{")))
    ends = np.flatnonzero(closes & (depth == 2) & (b == ord("}"))) + 1
    offsets = np.empty(starts.size + 1, dtype=np.int32)
    offsets[:-1] = starts
    offsets[-1] = ends[-1] if ends.size else 0
    # element i = body[start_i : start_{i+1}] (the record, a comma, whitespace): trim the tail
    spans = pa.StringArray.from_buffers(starts.size, pa.py_buffer(offsets), pa.py_buffer(body))
    return pc.utf8_rtrim(spans, characters=", \n\r\t")


def _median_ms(fn, pages: list[tuple[bytes, list]], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        for body, items in pages:
            fn(body, items)
        times.append((time.process_time() - t0) / len(pages) * 1000)
    return statistics.median(times)


def main() -> None:
    settings = SandboxSettings(calls_per_hour=13000, now=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    found = page_bodies(settings, datetime(2026, 11, 16, 8, tzinfo=UTC), 4)
    pages = [(body, orjson.loads(body)["calls"]) for _lo, _hi, body in found]
    for body, items in pages:
        slices = record_slices(body).to_pylist()
        assert len(slices) == len(items)
        assert all(orjson.loads(s) == item for s, item in zip(slices, items, strict=True))
    calls = sum(len(items) for _b, items in pages)
    print(f"{len(pages)} pages, {calls:,} calls; every slice decodes to its record")
    rounds = 5
    print(f"  dumps   {_median_ms(lambda b, i: raw_texts(i), pages, rounds):6.2f} ms/page")
    print(f"  slices  {_median_ms(lambda b, i: record_slices(b), pages, rounds):6.2f} ms/page")
    print(f"  decode  {_median_ms(lambda b, i: orjson.loads(b), pages, rounds):6.2f} ms/page")


if __name__ == "__main__":
    main()
