"""Send every alert a channel has not accepted yet, recording each delivery as it succeeds.

Exactly once per alert and channel: an alert is sent only while the channel has no row for it
in ``analytics.alert_deliveries``, and the row is written right after the channel accepts it
(HTTP 2xx, SMTP 250). A failed send writes nothing, so the next call (the sensor's next tick)
sends it again; a channel that fails stops for the rest of the call, so a dead webhook costs
one alert's retries per tick, not one per alert. The one gap left: a process killed between
the channel's acceptance and the row's commit (milliseconds) sends that alert again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.alerts.delivery import Channel, DeliveryError, subject_of, text_of
from pipeline.alerts.store import pending, record_delivery
from pipeline.warehouse.backend import Warehouse


@dataclass
class DispatchReport:
    """What one dispatch did.

    Attributes:
        sent: alerts delivered, per channel name.
        failed: the error (secret-free) of each channel that failed, by name.
    """

    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: what was sent where, and what failed."""
        parts = [f"{name}: {n} sent" for name, n in sorted(self.sent.items())]
        parts += [f"{name} failed ({error}); retried next tick" for name, error in
                  sorted(self.failed.items())]  # fmt: skip
        return "; ".join(parts) or "nothing to send"


def dispatch(
    warehouse: Warehouse,
    channels: Sequence[Channel],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DispatchReport:
    """Deliver each pending alert to each channel once (module docstring).

    Args:
        warehouse: where ``analytics.alerts`` and ``analytics.alert_deliveries`` live.
        channels: the configured channels (:func:`~pipeline.alerts.delivery.configured_channels`).
        clock: ``delivered_at`` of each delivery (UTC).

    Returns:
        The counts and the failures.
    """
    report = DispatchReport()
    for channel in channels:
        report.sent[channel.name] = 0
        for alert in pending(warehouse, channel.name).iter_rows(named=True):
            try:
                channel.send(subject_of(alert), text_of(alert))
            except DeliveryError as exc:
                report.failed[channel.name] = str(exc)
                break
            record_delivery(warehouse, alert, channel.name, clock())
            report.sent[channel.name] += 1
    return report
