"""Country of a dialled number: longest E.164 calling-code prefix → ISO 3166-1 alpha-2.

The same table and rules as ``sql/views/country_codes.sql`` (generated from ``phonenumbers``
by :mod:`pipeline.transforms.countries`: each calling code → its main region, NANP split by
area code, ``'001'`` non-geographic), so a transform and the SQL views agree. A number without
digits or with an unknown prefix gives ``'UNKNOWN'``.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from pipeline.transforms.countries import country_code_rows
from pipeline.transforms.prepare import UNKNOWN


@cache
def _prefixes() -> dict[int, dict[str, str]]:
    """Prefix length → {prefix digits: region}."""
    by_length: dict[int, dict[str, str]] = {}
    for prefix, _code, region in country_code_rows():
        by_length.setdefault(len(prefix), {})[prefix] = region
    return by_length


def country_of(number: str) -> pl.Expr:
    """The region of the number in column ``number`` (String; ``+`` and separators ignored).

    Returns:
        A String expression (not aliased): the region of the longest matching prefix, else
        ``'UNKNOWN'``.
    """
    digits = pl.col(number).str.replace_all(r"\D", "")
    tables = _prefixes()
    candidates = [
        digits.str.slice(0, n).replace_strict(tables[n], default=None, return_dtype=pl.String)
        for n in sorted(tables, reverse=True)
    ]
    return pl.coalesce(*candidates, pl.lit(UNKNOWN))
