"""The alerts file: defaults when unset, overrides, and one clear error for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.alerts.config import RULES, AlertsConfig, configured_alerts, load_alerts_config
from pipeline.settings import SettingsError


def test_unset_means_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLS_ALERTS_FILE", raising=False)
    config = configured_alerts()
    assert config == AlertsConfig()
    assert config.enabled_rules() == list(RULES)
    assert (config.asr_drop.min_attempts, config.asr_drop.max_drop, config.asr_drop.min_z) == (
        30, 0.20, 3.0,
    )  # fmt: skip
    assert config.ner_drop.max_drop == 0.10
    assert (config.failure_spike.min_failed, config.failure_spike.factor) == (10, 2.0)
    assert config.cps_over_limit.factor == 1.0
    c = config.concurrency_over_channels
    assert (c.blocking, c.lookback_days, c.margin, c.min_peak) == (0.01, 7, 1.25, 5)
    s = config.short_calls
    assert (s.max_seconds, s.min_answered, s.max_ratio) == (10.0, 20, 0.15)
    assert (config.new_countries.lookback_days, config.new_countries.min_history_days) == (28, 28)


def test_the_docs_example_is_the_defaults(tmp_path: Path) -> None:
    """docs/alerts.md shows the full file; loading it gives the built-in defaults."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"
    text = docs.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "alerts.toml"
    path.write_text(example, encoding="utf-8")
    assert load_alerts_config(path) == AlertsConfig()


def test_a_file_overrides_some_keys_and_turns_rules_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(
        "[asr_drop]\nmin_attempts = 50\n\n[new_countries]\nenabled = false\n", encoding="utf-8"
    )
    monkeypatch.setenv("CALLS_ALERTS_FILE", str(path))
    config = configured_alerts()
    assert config.asr_drop.min_attempts == 50
    assert config.asr_drop.max_drop == 0.20  # untouched keys keep their default
    assert "new_countries" not in config.enabled_rules()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[asr_drop]\nmax_drop = 2\n", "asr_drop.max_drop: Input should be less than or equal"),
        ("[asr_dorp]\nmax_drop = 0.1\n", "asr_dorp: Extra inputs are not permitted"),
        ("[short_calls]\nmin_answred = 3\n", "short_calls.min_answred: Extra inputs"),
        ("[cps_over_limit\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_one_settings_error_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_alerts_config(path)
    assert str(caught.value).startswith(f"CALLS_ALERTS_FILE={path}: ")
    assert expected in str(caught.value)


def test_a_missing_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read the alerts file"):
        load_alerts_config(tmp_path / "none.toml")


def test_the_code_location_refuses_a_bad_alerts_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.definitions import build_definitions
    from pipeline.defs.resources import SandboxCallsResource, WarehouseResource

    path = tmp_path / "alerts.toml"
    path.write_text("[ner_drop]\nmin_z = -1\n", encoding="utf-8")
    monkeypatch.setenv("CALLS_ALERTS_FILE", str(path))
    with pytest.raises(SettingsError, match=r"ner_drop\.min_z: Input should be greater"):
        build_definitions(
            sinch=SandboxCallsResource(), warehouse=WarehouseResource(path=str(tmp_path / "d"))
        )
