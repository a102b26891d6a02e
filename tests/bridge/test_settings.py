from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from bridge.cli import main
from bridge.settings import Settings, mask_url


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.embedded_redis
    assert s.data_dir == tmp_path / "data"
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'callbridge.db'}"


def test_environment_prefix_and_types(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CALLBRIDGE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("CALLBRIDGE_PORT", "9099")
    monkeypatch.setenv("CALLBRIDGE_REDIS_URL", "redis://127.0.0.1:6379/3")
    s = Settings()
    assert s.port == 9099
    assert s.data_dir == tmp_path / "d"
    assert not s.embedded_redis
    monkeypatch.setenv("CALLBRIDGE_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_config_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "callbridge.toml"
    cfg.write_text('port = 7000\nlog_level = "debug"\n')
    monkeypatch.setenv("CALLBRIDGE_CONFIG_FILE", str(cfg))
    assert Settings().port == 7000
    assert Settings().log_level == "debug"
    monkeypatch.setenv("CALLBRIDGE_PORT", "7001")
    assert Settings().port == 7001


def test_unknown_setting_in_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = tmp_path / "callbridge.toml"
    cfg.write_text("prot = 7000\n")
    monkeypatch.setenv("CALLBRIDGE_CONFIG_FILE", str(cfg))
    with pytest.raises(ValueError, match="prot"):
        Settings()


def test_mask_url() -> None:
    assert mask_url("postgresql://app:s3cret@db:5432/cb") == "postgresql://app:********@db:5432/cb"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CALLBRIDGE_DATABASE_URL", "postgresql://app:hunter22@db/cb")
    monkeypatch.setenv("CALLBRIDGE_REDIS_URL", "redis://:redispw@cache:6379/0")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "hunter22" not in result.output and "redispw" not in result.output
    assert "postgresql://app:********@db/cb" in result.output
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    shown = json.loads(result.output)
    assert shown["redis_url"] == "redis://:********@cache:6379/0"
    assert shown["port"] == 8080


def test_invalid_settings_are_a_clear_cli_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_LOG_LEVEL", "loud")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 1
    assert "invalid settings" in result.output and "log_level" in result.output


def test_as_environment_gives_a_child_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a SIP worker is started with: every value, secrets in clear, read back equal."""
    s = Settings(
        data_dir=tmp_path,
        redis_url="redis://:pw@cache:6379/0",
        twilio_auth_token="tok",
        number_flows={"+441234": tmp_path / "a.yaml"},
        sip_allowed_sources=["203.0.113.0/24"],
        store_writer_enabled=False,
    )
    env = s.as_environment()
    assert env["CALLBRIDGE_TWILIO__AUTH_TOKEN"] == "tok"
    assert env["CALLBRIDGE_SIP__ALLOWED_SOURCES"] == '["203.0.113.0/24"]'
    assert "CALLBRIDGE_DATABASE_URL" not in env  # unset stays unset
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == s


def test_engine_is_local_or_an_import_path() -> None:
    assert Settings(engine="harness.trivial_engine:TrivialEngine").engine.endswith("Engine")
    with pytest.raises(ValidationError):
        Settings(engine="openai; rm -rf /")


def test_grouped_settings_by_their_nested_and_their_flat_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``sip.port`` is CALLBRIDGE_SIP__PORT and ``[sip] port``; the flat names of earlier
    releases (CALLBRIDGE_SIP_PORT, ``sip_port``) keep working, the nested one wins."""
    monkeypatch.setenv("CALLBRIDGE_SIP__WORKERS", "2")
    monkeypatch.setenv("CALLBRIDGE_SIP_PORT", "5070")
    monkeypatch.setenv("CALLBRIDGE_SIP_ALLOWED_SOURCES", '["10.0.0.0/8"]')
    monkeypatch.setenv("CALLBRIDGE_OPENAI__VOICE", "cedar")
    monkeypatch.setenv("CALLBRIDGE_EVENT_STREAM", "cb:test")
    s = Settings()
    assert (s.sip.workers, s.sip.port, s.sip.allowed_sources) == (2, 5070, ["10.0.0.0/8"])
    assert s.openai.voice == "cedar" and s.events.stream == "cb:test"
    monkeypatch.setenv("CALLBRIDGE_SIP__PORT", "5080")
    assert Settings().sip.port == 5080
    assert Settings(sip_port=5090, store_writer_batch=7).sip.port == 5090
    assert Settings(store_writer_batch=7).store_writer.batch == 7

    for key in ("CALLBRIDGE_SIP__WORKERS", "CALLBRIDGE_SIP_PORT", "CALLBRIDGE_SIP__PORT"):
        monkeypatch.delenv(key)
    cfg = tmp_path / "callbridge.toml"
    cfg.write_text('twilio_account_sid = "AC1"\n[sip]\nport = 5071\ntransfer = "refer"\n')
    monkeypatch.setenv("CALLBRIDGE_CONFIG_FILE", str(cfg))
    s = Settings()
    assert (s.sip.port, s.sip.transfer, s.twilio.account_sid) == (5071, "refer", "AC1")
    cfg.write_text("[sip]\nprot = 5071\n")
    with pytest.raises(ValueError, match="prot"):
        Settings()


def test_config_show_names_grouped_settings_with_dots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_OPENAI__API_KEY", "sk-secret-key")
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    shown = json.loads(result.output)
    assert "sip.port" in shown and shown["openai.api_key"] == "********"
    assert "sk-secret-key" not in result.output
