"""The generated call's three steps: model (traffic.py), rendering (render.py), fault (faults.py).

The end-to-end behaviour (values, variants, malformations as served) is tested elsewhere; these
check the seams: the model's draws do not depend on rendering or fault settings, rendering
without a variant serves the canonical dict, and the malformation is a per-callId copy.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from pipeline.sandbox import faults
from pipeline.sandbox.render import canonical_dict, in_progress_form, stored_call, with_variant
from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.state import SandboxState
from pipeline.sandbox.traffic import TRUNKS, TrafficGenerator

HOUR = int(datetime(2026, 10, 20, 10, tzinfo=UTC).timestamp() * 1000)  # a busy Tuesday hour


def outcomes(variant_rate: float = 0.3):
    gen = TrafficGenerator(seed=7, calls_per_hour=None, burst_probability=0.0,
                           variant_rate=variant_rate)  # fmt: skip
    return [o for t in TRUNKS for o in gen.block(t, HOUR)]


def test_served_calls_are_the_model_outcomes_whatever_the_faults():
    drawn = sorted(outcomes(), key=lambda o: (o.create_ms, o.call_id))
    settings = SandboxSettings(
        seed=7,
        burst_probability=0.0,
        variant_rate=0.3,
        malformed_rate=0.5,
        list_in_progress=True,
        project_id="p",
    )
    stored = SandboxState(settings)._hour(HOUR)
    assert len(drawn) > 50
    assert [(c.call_id, c.create_ms, c.answer_ms, c.end_ms, c.call_result) for c in stored] == [
        (o.call_id, o.create_ms, o.answer_ms, o.end_ms, o.result) for o in drawn
    ]
    assert any(c.malformed for c in stored) and not all(c.malformed for c in stored)


def test_without_variant_the_served_bytes_are_the_canonical_dict():
    for o in outcomes(variant_rate=0.0):
        canonical = canonical_dict(o, "p")
        assert with_variant(canonical, o.variant, TRUNKS[0]) is canonical
        c = stored_call(o, canonical, canonical, in_progress=False, malformed=False)
        assert c.canonical is None and c.progress_json is None
        assert orjson.loads(c.final_json) == canonical == c.canonical_dict()


def test_in_progress_form_nulls_only_what_a_live_call_lacks():
    o = next(o for o in outcomes() if o.result == "COMPLETED")
    served = canonical_dict(o, "p")
    live = in_progress_form(served)
    assert list(live) == list(served)
    nulled = {k for k in served if live[k] != served[k]}
    assert nulled == {"answerTime", "endTime", "durationSeconds", "callResult",
                      "billingDurationSeconds", "price"}  # fmt: skip
    assert all(live[k] is None for k in nulled)


def test_malformation_is_a_per_call_id_copy():
    served = canonical_dict(outcomes()[0], "p")
    before = dict(served)
    off = SandboxSettings(malformed_rate=0.0)
    always = SandboxSettings(malformed_rate=1.0, fault_seed=3)
    assert faults.malformed(off, str(served["callId"]), served) is None
    bad = faults.malformed(always, str(served["callId"]), served)
    assert bad is not None and bad != served and served == before
    assert bad["callId"] == served["callId"]
    assert faults.malformed(always, str(served["callId"]), served) == bad
