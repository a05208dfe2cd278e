import pytest
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_int, env_json, env_list, env_str


def test_env_bool_reads_common_spellings_and_refuses_others(monkeypatch):
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env_bool("X_FLAG", True) is False
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG", False)


def test_env_int_fails_loudly(monkeypatch):
    monkeypatch.delenv("X_INT", raising=False)
    assert env_int("X_INT", 7) == 7
    monkeypatch.setenv("X_INT", "12")
    assert env_int("X_INT", 7) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT='twelve' is not an integer"):
        env_int("X_INT", 7)
    monkeypatch.setenv("X_INT", "2")
    with pytest.raises(ImproperlyConfigured, match="at least 5"):
        env_int("X_INT", 7, minimum=5)


def test_file_variant_reads_a_docker_secret(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_KEY_FILE", str(secret))
    assert env_str("X_KEY") == "s3cret"
    monkeypatch.setenv("X_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_KEY_FILE"):
        env_str("X_KEY")


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("X_HOSTS", "a.example, b.example,,")
    assert env_list("X_HOSTS", []) == ["a.example", "b.example"]


def test_production_settings_refuse_the_embedded_secret(monkeypatch):
    import subprocess
    import sys

    env = {"FTLOOP_EMBEDDED": "false", "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "webapp.settings"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
                            env=env)
    assert result.returncode != 0 and "FTLOOP_SECRET_KEY must be set" in result.stderr


def test_env_json_parses_a_price_table_and_names_the_variable_when_malformed(monkeypatch):
    monkeypatch.delenv("X_PRICES", raising=False)
    assert env_json("X_PRICES", None) is None
    monkeypatch.setenv("X_PRICES", '{"m": {"prompt_tokens": 0.2}}')
    assert env_json("X_PRICES", None) == {"m": {"prompt_tokens": 0.2}}
    monkeypatch.setenv("X_PRICES", "{m: 1}")
    with pytest.raises(ImproperlyConfigured, match="X_PRICES must be JSON"):
        env_json("X_PRICES", None)
