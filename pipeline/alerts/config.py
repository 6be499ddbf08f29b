"""Alert thresholds: built-in defaults, or a TOML file named by ``CALLS_ALERTS_FILE``.

Every rule has a table of the same name; a missing table or key keeps the default below, and
``enabled = false`` turns a rule off. Rates and shares are fractions 0-1 (0.20 = 20 percentage
points), counts are calls, durations are seconds, periods are days. Example (the defaults)::

    [asr_drop]                   # ASR (ITU-T E.411) vs the same UTC hour a week before
    min_attempts = 30            # both hours need at least this many attempts
    max_drop = 0.20              # alert when ASR fell by at least 20 points ...
    min_z = 3.0                  # ... and the fall is significant (two-proportion z >= 3)

    [ner_drop]                   # NER proxy (ITU-T E.425), same comparison
    min_attempts = 30
    max_drop = 0.10
    min_z = 3.0

    [true_ner_drop]              # true NER (E.425 from the export's SIP causes), same comparison
    min_attempts = 30            # calls with export details in both hours
    max_drop = 0.10
    min_z = 3.0

    [failure_spike]              # FAILED calls vs the same UTC hour a week before
    min_failed = 10              # at least this many FAILED calls in the hour ...
    factor = 2.0                 # ... and a failure rate >= 2 x last week's

    [cps_over_limit]             # trunk-wide peak calls per second vs callsPerSecond
    factor = 1.0                 # alert when peak_cps > 1.0 x the limit

    [concurrency_over_channels]  # peak simultaneous calls vs Erlang B channels
    blocking = 0.01              # grade of service of the recommendation (E.520: 1 %)
    lookback_days = 7            # busy-hour traffic = highest hourly Erlangs of these days
    margin = 1.25                # alert when peak > 1.25 x the recommended channels ...
    min_peak = 5                 # ... and peak >= 5 calls

    [short_calls]                # answered calls with conversation < max_seconds
    max_seconds = 10
    min_answered = 20
    max_ratio = 0.15             # alert when short / answered > 15 %

    [new_countries]              # OUTBOUND destinations not called in the lookback
    lookback_days = 28
    min_history_days = 28        # the trunk's first call must be this old (else all is new)

An invalid file stops the code location with a :class:`~pipeline.settings.SettingsError`
naming the file and each bad key, as :mod:`pipeline.projects` does.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.settings import env, load_toml_model

ALERTS_FILE_VAR = "CALLS_ALERTS_FILE"

_STRICT = ConfigDict(extra="forbid", frozen=True)


class RateDrop(BaseModel):
    """A rate (ASR, NER proxy or true NER) falling against the same UTC hour a week before."""

    model_config = _STRICT
    enabled: bool = True
    min_attempts: int = Field(default=30, ge=1)
    max_drop: float = Field(default=0.20, gt=0.0, le=1.0, allow_inf_nan=False)
    min_z: float = Field(default=3.0, ge=0.0, allow_inf_nan=False)


class FailureSpike(BaseModel):
    """Many more FAILED calls than in the same UTC hour a week before."""

    model_config = _STRICT
    enabled: bool = True
    min_failed: int = Field(default=10, ge=1)
    factor: float = Field(default=2.0, ge=1.0, allow_inf_nan=False)


class CpsOverLimit(BaseModel):
    """Trunk-wide peak CPS over the trunk's ``callsPerSecond``."""

    model_config = _STRICT
    enabled: bool = True
    factor: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)


class ConcurrencyOverChannels(BaseModel):
    """Peak concurrent calls over the Erlang B channels of the recent busy-hour traffic."""

    model_config = _STRICT
    enabled: bool = True
    blocking: float = Field(default=0.01, gt=0.0, lt=1.0, allow_inf_nan=False)
    lookback_days: int = Field(default=7, ge=1, le=366)
    margin: float = Field(default=1.25, gt=0.0, allow_inf_nan=False)
    min_peak: int = Field(default=5, ge=1)


class ShortCalls(BaseModel):
    """A high share of answered calls with a very short conversation."""

    model_config = _STRICT
    enabled: bool = True
    max_seconds: float = Field(default=10.0, gt=0.0, allow_inf_nan=False)
    min_answered: int = Field(default=20, ge=1)
    max_ratio: float = Field(default=0.15, ge=0.0, le=1.0, allow_inf_nan=False)


class NewCountries(BaseModel):
    """OUTBOUND calls to countries the trunk did not call in the lookback."""

    model_config = _STRICT
    enabled: bool = True
    lookback_days: int = Field(default=28, ge=1, le=366)
    min_history_days: int = Field(default=28, ge=0, le=3660)


class AlertsConfig(BaseModel):
    """Every rule's thresholds (the file's tables); see the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    asr_drop: RateDrop = RateDrop()
    ner_drop: RateDrop = RateDrop(max_drop=0.10)
    true_ner_drop: RateDrop = RateDrop(max_drop=0.10)
    failure_spike: FailureSpike = FailureSpike()
    cps_over_limit: CpsOverLimit = CpsOverLimit()
    concurrency_over_channels: ConcurrencyOverChannels = ConcurrencyOverChannels()
    short_calls: ShortCalls = ShortCalls()
    new_countries: NewCountries = NewCountries()

    def enabled_rules(self) -> list[str]:
        """Names of the rules that are on, in file order."""
        return [name for name in type(self).model_fields if getattr(self, name).enabled]


#: The rule names (the tables of the file, the ``rule`` column of ``analytics.alerts``).
RULES = tuple(AlertsConfig.model_fields)


def load_alerts_config(path: str | Path) -> AlertsConfig:
    """Read and check an alerts file.

    Args:
        path: a TOML file with one table per rule (any subset).

    Returns:
        The thresholds, defaults where the file says nothing.

    Raises:
        SettingsError: the file is missing or unreadable, not TOML, names an unknown rule or
            key, or has a value out of range (the message lists each).
    """
    hint = f"tables: {', '.join(RULES)}; see docs/alerts.md"
    return load_toml_model(path, ALERTS_FILE_VAR, "alerts file", AlertsConfig, hint)


def configured_alerts() -> AlertsConfig:
    """The thresholds of ``CALLS_ALERTS_FILE``, or the built-in defaults when it is unset.

    Raises:
        SettingsError: see :func:`load_alerts_config`.
    """
    path = env(ALERTS_FILE_VAR, "")
    return load_alerts_config(path) if path else AlertsConfig()
