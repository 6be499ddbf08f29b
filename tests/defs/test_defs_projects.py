"""The projects file: what it accepts, and the clear error for each thing it refuses."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.projects import Project, load_projects, sandbox_seed
from pipeline.settings import SettingsError

GOOD = """
[[project]]
id = "1c2d3e4f-0000-4000-8000-000000000001"
name = "Acme EU"
key_id_env = "ACME_EU_KEY_ID"
key_secret_env = "ACME_EU_KEY_SECRET"
rate_limit_per_s = 5

[[project]]
id = "acme-us"
key_id_env = "ACME_US_KEY_ID"
key_secret_env = "ACME_US_KEY_SECRET"
"""


def test_a_good_file_lists_its_projects_in_order(tmp_path):
    path = tmp_path / "projects.toml"
    path.write_text(GOOD, encoding="utf-8")
    first, second = load_projects(path)
    assert (first.display_name, first.rate_limit_per_s, first.uses_real_api) == (
        "Acme EU",
        5,
        True,
    )
    assert (second.id, second.display_name, second.rate_limit_per_s) == ("acme-us",) * 2 + (None,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[project]]\nid = 'a'\nid = 'b'\n", "not valid TOML"),
        ("", "project: Field required"),
        ("[[project]]\nname = 'x'\n", "project.0.id: Field required"),
        ("[[project]]\nid = 'a b'\n", "project.0.id: String should match pattern"),
        ("[[project]]\nid = 'a'\nsecret = 's3cr3t'\n", "project.0.secret: Extra inputs"),
        ("[[project]]\nid = 'a'\nkey_id_env = 'K'\n", "set both key_id_env and key_secret_env"),
        ("[[project]]\nid = 'a'\nrate_limit_per_s = 0\n", "greater than 0"),
        ("[[project]]\nid = 'a'\nrate_limit_per_s = nan\n", "finite number"),
        ("[[project]]\nid = 'a'\n[[project]]\nid = 'a'\n", "listed more than once: a"),
        (
            "[[project]]\nid = 'a'\n[[project]]\nid = 'b'\n"
            "key_id_env = 'K'\nkey_secret_env = 'S'\n",
            "either every project names key_id_env/key_secret_env",
        ),
    ],
)
def test_a_bad_file_is_refused_with_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "projects.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match="CALLS_PROJECTS_FILE=") as caught:
        load_projects(path)
    assert message in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_a_missing_file_names_itself(tmp_path):
    with pytest.raises(SettingsError, match="cannot read the projects file"):
        load_projects(tmp_path / "nope.toml")


def test_keys_come_from_the_named_variables_and_a_missing_one_is_named(monkeypatch):
    project = Project(id="a", key_id_env="A_KEY_ID", key_secret_env="A_KEY_SECRET")
    monkeypatch.setenv("A_KEY_ID", "id-1")
    monkeypatch.delenv("A_KEY_SECRET", raising=False)
    with pytest.raises(SettingsError, match="A_KEY_SECRET is not set"):
        project.credentials()
    monkeypatch.setenv("A_KEY_SECRET", "secret-1")
    assert project.credentials() == ("id-1", "secret-1")


def test_sandbox_seeds_differ_per_project_and_stay_put():
    assert sandbox_seed(7, "acme-eu") == sandbox_seed(7, "acme-eu")
    assert sandbox_seed(7, "acme-eu") != sandbox_seed(7, "acme-us")


def test_the_cli_stops_on_a_bad_projects_file_with_exit_2(tmp_path, monkeypatch):
    path = tmp_path / "projects.toml"
    path.write_text("[[project]]\nid = 'a'\nkey_id_env = 'K'\n", encoding="utf-8")
    monkeypatch.setenv("CALLS_PROJECTS_FILE", str(path))
    result = CliRunner().invoke(
        app, ["ingest", "--start", "2026-11-16T00", "--end", "2026-11-16T01"]
    )
    assert result.exit_code == 2
    assert "set both key_id_env and key_secret_env" in result.output
