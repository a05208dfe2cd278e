"""The launcher's --set: training settings of the main job as KEY=VALUE, values read as JSON where they parse."""

import pytest

from webapp.launch import main, parse_settings


def test_values_are_json_where_they_parse_and_strings_elsewhere():
    assert parse_settings(["bf16=false", "lora_r=8", "learning_rate=2e-3", "target_modules=q_proj,v_proj"]) == {
        "bf16": False, "lora_r": 8, "learning_rate": 2e-3, "target_modules": "q_proj,v_proj"}
    assert parse_settings([]) == {}


@pytest.mark.parametrize("bad", ["bf16", "=3"])
def test_a_setting_without_a_key_and_value_is_refused_by_name(bad, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--no-job", "--set", bad])
    assert exited.value.code == 2
    assert f"--set takes KEY=VALUE, got {bad!r}" in capsys.readouterr().err
