"""Erlang B recursion and channel sizing (for the reporting notebook)."""

from __future__ import annotations

import math

import pytest

from pipeline.transforms import channels_for_grade_of_service, erlang_b


def _closed_form(a: float, m: int) -> float:
    return (a**m / math.factorial(m)) / sum(a**k / math.factorial(k) for k in range(m + 1))


def test_erlang_b_small_values_by_hand():
    """B(A, 0) = 1. B(1, 1) = 1/(1+1) = 0.5. B(2, 2) = (4/2)/(1 + 2 + 2) = 0.4."""
    assert erlang_b(3.0, 0) == 1.0
    assert erlang_b(1.0, 1) == 0.5
    assert erlang_b(2.0, 2) == pytest.approx(0.4)


@pytest.mark.parametrize(("a", "m"), [(0.5, 1), (2.5, 7), (10.0, 15), (30.0, 40)])
def test_recursion_matches_closed_form(a, m):
    assert erlang_b(a, m) == pytest.approx(_closed_form(a, m), rel=1e-12)


def test_worked_example_two_and_a_half_erlangs():
    """100 BHCA × 90 s / 3600 = 2.5 E. Σ_{k≤7} 2.5^k/k! = 1 + 2.5 + 3.125 + 2.6042 + 1.6276 +
    0.8138 + 0.3391 + 0.1211 = 12.1308; B(2.5, 7) = 0.1211 / 12.1308 = 0.998 % ≤ 1 %, and
    B(2.5, 6) = 0.3391 / 12.0097 = 2.82 % > 1 % → 7 channels (the "8 channels" quoted in
    kpi-definitions holds from 2.51 E: B(2.51, 7) = 1.016 % > 1 %)."""
    a = 100 * 90 / 3600
    assert a == 2.5
    assert erlang_b(a, 7) == pytest.approx(0.009983, abs=1e-6)
    assert erlang_b(a, 6) == pytest.approx(0.028234, abs=1e-6)
    assert channels_for_grade_of_service(a, 0.01) == 7
    assert channels_for_grade_of_service(2.51, 0.01) == 8
    assert channels_for_grade_of_service(0.0) == 1  # B(0, 1) = 0


def test_invalid_inputs():
    with pytest.raises(ValueError):
        erlang_b(-1.0, 3)
    with pytest.raises(ValueError):
        erlang_b(1.0, -1)
    with pytest.raises(ValueError):
        channels_for_grade_of_service(1.0, gos=0)
