"""config/org.toml [ladder.roles.<unit kind>]: who answers and who reviews the ladder's follow-up tasks, per kind
of unit holding the late task; read and checked by EngineSettings.from_files (issue 17 §2)."""
from pathlib import Path

import pytest

from engine.runtime import EngineSettings

ROOT = Path(__file__).resolve().parents[2]


def settings_from(tmp_path, text: str) -> EngineSettings:
    org = tmp_path / "org.toml"
    org.write_text(text, encoding="utf-8")
    return EngineSettings.from_files(str(org), None)


def test_the_shipped_config_names_a_role_pair_for_every_kind_of_unit():
    settings = EngineSettings.from_files(str(ROOT / "config" / "org.toml"), None)
    assert set(settings.ladder_roles) == {"county", "township", "village", "department"}
    assert settings.ladder_roles["department"] == {"notice": "unit_head", "listing": "supervisor"}


def test_a_kind_without_its_own_table_uses_the_ladder_defaults(tmp_path):
    settings = settings_from(tmp_path, '[ladder]\nnotice_role = "head"\nlisting_role = "desk"\n'
                                       '[ladder.roles.township]\nnotice_role = "township_head"\n')
    assert settings.ladder_roles == {"township": {"notice": "township_head", "listing": "desk"}}
    assert (settings.ladder_notice_role, settings.ladder_listing_role) == ("head", "desk")


def test_no_ladder_section_keeps_todays_defaults(tmp_path):
    settings = settings_from(tmp_path, 'default_area_code = "330106"\n')
    assert (settings.ladder_notice_role, settings.ladder_listing_role, settings.ladder_roles) == (
        "unit_head", "supervisor", {})


@pytest.mark.parametrize("text, named", [
    ('[ladder.roles.city_hall]\nnotice_role = "x"\n', "[ladder.roles.city_hall]"),
    ('[ladder.roles.village]\nnotice_rol = "x"\n', "[ladder.roles.village] notice_rol"),
    ('[ladder.roles.village]\nlisting_role = ""\n', "[ladder.roles.village] listing_role"),
    ('[ladder.roles.village]\nnotice_role = 3\n', "[ladder.roles.village] notice_role"),
    ('[ladder]\nnotice_role = ["a"]\n', "[ladder] notice_role"),
    ('[ladder]\nroles = "x"\n', "[ladder.roles]"),
    ("[group_case]\npeople_involved_at_least = 1\n", "[group_case] people_involved_at_least"),
    ('[group_case]\npeople_involved_at_least = "ten"\n', "[group_case] people_involved_at_least"),
    ("[group_case]\nconsultation_roles = []\n", "[group_case] consultation_roles"),
    ("[group_case]\nthreshold = 5\n", "[group_case] threshold"),
    ('[group_case]\ndirector_role = ""\n', "[group_case] director_role"),
    ("[ranking]\nweights = { speed = 1 }\n", "[ranking] weights.speed"),
    ("[ranking]\nweights = { satisfaction_rate = -1 }\n", "[ranking] weights.satisfaction_rate"),
    ("[ranking]\nweights = { satisfaction_rate = 0 }\n", "[ranking] weights"),
    ("[ranking]\nweight = 1\n", "[ranking] weight"),
])
def test_a_wrong_entry_is_refused_at_load_naming_the_key(tmp_path, text, named):
    """[ladder] and [group_case] entries alike: refused when the settings load, naming the key."""
    with pytest.raises(ValueError) as caught:
        settings_from(tmp_path, text)
    assert named in str(caught.value)


def test_the_group_case_table_sets_the_threshold_and_the_roles(tmp_path):
    settings = settings_from(tmp_path, '[group_case]\npeople_involved_at_least = 30\ndirector_role = "head"\n'
                                       'consultation_roles = ["dept_police"]\n')
    assert (settings.group_people_at_least, settings.group_director_role, settings.group_consultation_roles) == (
        30, "head", ("dept_police",))


def test_the_ranking_weights_come_from_config_else_the_defaults(tmp_path):
    assert settings_from(tmp_path, 'default_area_code = "330106"\n').ranking_weights == {
        "responded_on_time_rate": 30.0, "closed_on_time_rate": 40.0, "satisfaction_rate": 30.0}
    chosen = settings_from(tmp_path, "[ranking]\nweights = { satisfaction_rate = 2, resolved_rate = 1 }\n")
    assert chosen.ranking_weights == {"satisfaction_rate": 2.0, "resolved_rate": 1.0}
