"""The generated trunks: identity, limits and offered load (what ``GET /trunks`` serves).

Choice, illustrative: five trunks in five time zones.  ``calls_per_second`` is Sinch's trunk
field (enforced by ``capacity.py``); ``busy_hour_erlangs`` is the offered load of the trunk's
weekday 10:00 (local) hour, 1.5–10 E (an office to a small contact centre), which sizes its
volume (``traffic_model``) and its channels (Erlang B at 1 %, ``capacity.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE_ERLANGS = 6.0  # Copenhagen's load: the trunk of weight 1


@dataclass(frozen=True, slots=True)
class TrunkSpec:
    """A generated trunk.  ``busy_hour_erlangs``: offered load of its weekday 10:00 hour."""

    id: str
    name: str
    country: str
    tz: str
    calls_per_second: int
    busy_hour_erlangs: float
    inbound_share: float
    region: str
    host_name: str
    create_time: str

    @property
    def weight(self) -> float:
        """Volume relative to Copenhagen (scales ``calls_per_hour`` and ``hour_calls``)."""
        return self.busy_hour_erlangs / REFERENCE_ERLANGS


TRUNKS: tuple[TrunkSpec, ...] = (
    TrunkSpec("01JSBX0TRUNK0CPH0000000001", "Copenhagen HQ", "DK", "Europe/Copenhagen", 10,
              6.0, 0.60, "eu-central", "cph-hq", "2025-03-04T09:12:44Z"),
    TrunkSpec("01JSBX0TRUNK0LON0000000002", "London Sales", "GB", "Europe/London", 5,
              4.0, 0.30, "eu-west", "lon-sales", "2025-04-17T13:02:10Z"),
    TrunkSpec("01JSBX0TRUNK0NYC0000000003", "New York Support", "US", "America/New_York", 20,
              10.0, 0.75, "us-east", "nyc-support", "2025-05-20T15:40:00Z"),
    TrunkSpec("01JSBX0TRUNK0BER0000000004", "Berlin, Field Service", "DE", "Europe/Berlin", 1,
              1.5, 0.50, "eu-central", "ber-field", "2025-06-02T07:55:31Z"),
    TrunkSpec("01JSBX0TRUNK0SAO0000000005", "Sao Paulo Ops", "BR", "America/Sao_Paulo", 2,
              2.5, 0.50, "sa-east", "sao-ops", "2025-08-11T11:21:09Z"),
)  # fmt: skip

TRUNK_BY_ID: dict[str, TrunkSpec] = {t.id: t for t in TRUNKS}
