from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.conftest import TEST_CONFIG, write_config

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_loads_with_ollama_then_embedded_first():
    settings = load_config(REPO / "config.toml", {})
    chain = settings.chain("free")
    assert chain[:2] == ["ollama", "embedded"]
    assert not settings.is_local(chain[-1])
    assert settings.data_dir == REPO / "data"
    assert set(settings.tiers) == {"free", "pro", "enterprise"}


def test_roles_resolve_and_unset_roles_drop_out(settings):
    assert settings.chain("free") == ["local", "tiny", "cloud"]
    assert settings.chain("enterprise") == ["cloud", "local"]


def test_env_overrides_point_roles_at_configured_models(config_path):
    settings = load_config(config_path, {"DEFAULT_MODEL": "tiny", "FALLBACK_MODEL": "local"})
    assert settings.chain("free") == ["tiny", "local"]


def test_env_override_with_provider_spec_adds_a_model(config_path):
    settings = load_config(config_path, {"DEFAULT_MODEL": "ollama/llama3.1:8b"})
    assert settings.chain("free")[0] == "ollama/llama3.1:8b"
    added = settings.models["ollama/llama3.1:8b"]
    assert added.provider == "ollama" and added.model == "llama3.1:8b"
    # options are inherited from the first configured model of that provider
    assert added.first_token_timeout_s == settings.models["local"].first_token_timeout_s


def test_env_override_naming_nothing_is_a_clear_error(config_path):
    with pytest.raises(ConfigError, match="CODE_GEN_MODEL='nope'"):
        load_config(config_path, {"CODE_GEN_MODEL": "nope"})


def test_data_dir_from_environment(config_path, tmp_path):
    settings = load_config(config_path, {"TUTOR_DATA_DIR": str(tmp_path / "elsewhere")})
    assert settings.data_dir == tmp_path / "elsewhere"


def test_secrets_come_from_environment_and_never_show_in_repr(config_path):
    settings = load_config(config_path, {"OPENAI_API_KEY": "sk-secret-123"})
    assert settings.secrets.openai_api_key.get_secret_value() == "sk-secret-123"
    assert "sk-secret-123" not in repr(settings)
    assert "sk-secret-123" not in str(settings.model_dump())


def test_wrong_type_names_file_key_and_line(tmp_path):
    text = TEST_CONFIG.replace("timeout_s = 60.0\n", 'timeout_s = "soon"\n', 1)
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    message = str(err.value)
    expected_line = text.splitlines().index('timeout_s = "soon"') + 1
    assert str(path) in message
    assert "models.local.timeout_s" in message
    assert f"line {expected_line}" in message


def test_unknown_key_is_refused(tmp_path):
    path = write_config(tmp_path, TEST_CONFIG.replace("[roles]", "[roles]\ndefualt = 'local'"))
    with pytest.raises(ConfigError, match=r"roles\.defualt .*line \d+.*[Ee]xtra"):
        load_config(path, {})


def test_chain_naming_unknown_model_is_refused(tmp_path):
    path = write_config(
        tmp_path, TEST_CONFIG.replace('chain = ["cloud", "default"]', 'chain = ["gpt-9"]')
    )
    with pytest.raises(ConfigError, match=r"tiers\.enterprise\.chain names 'gpt-9'"):
        load_config(path, {})


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", {})
    path = write_config(tmp_path, "[tutor\n")
    with pytest.raises(ConfigError, match=r"invalid TOML.*line 1"):
        load_config(path, {})


def test_unknown_provider_is_refused(tmp_path):
    path = write_config(
        tmp_path, TEST_CONFIG.replace('provider = "openai"', 'provider = "bedrock"')
    )
    with pytest.raises(ConfigError, match=r"models\.cloud"):
        load_config(path, {})
