"""`callbridge call`: a flow called from the terminal with synthesised caller lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.store.wav_files import load_wav
from tests.fakes.openai_realtime import Reply, in_thread

CARDS = Path(__file__).resolve().parents[3] / "flows" / "examples" / "card_services.yaml"


def test_call_prints_transcript_and_path_and_writes_the_bot_side(tmp_path: Path) -> None:
    lookups = tmp_path / "lookups.yaml"
    lookups.write_text(
        "http://crm.internal/cards/verify: { verified: true, status: active, balance: 75 }\n"
    )
    out, rec = tmp_path / "bot.wav", tmp_path / "call.wav"
    result = CliRunner().invoke(
        main,
        ["call", "--flow", str(CARDS), "--say", "#1", "--say", "12 March 1990",
         "--say", "#1234#", "--lookups", str(lookups), "--out", str(out), "--record", str(rec)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stdout = result.stdout
    assert "bot: Thank you for calling Example Bank card services." in stdout
    assert "bot: Your available balance is 75 pounds." in stdout
    assert "path: greet → menu → for_balance → identify → ask_dob → ask_card" in stdout
    pcm, rate = load_wav(out)
    assert rate == 16000 and len(pcm) > 16000 * 10 and abs(pcm.astype(int)).max() > 1000
    stereo, _ = load_wav(rec)
    assert stereo.shape[1] == 2 and len(stereo) == len(pcm)


def test_call_refuses_an_invalid_flow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CARDS.read_text().replace("next: menu", "next: menuu"))
    result = CliRunner().invoke(main, ["call", "--flow", str(bad), "--say", "hello"])
    assert result.exit_code == 1 and "unknown state `menuu`" in result.output


def test_the_same_flow_runs_on_the_openai_engine_by_setting_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with in_thread() as fake:
        fake.replies.append(Reply(call="answer", args={"intent": "agent"}, heard="a person"))
        monkeypatch.setenv("CALLBRIDGE_OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("CALLBRIDGE_OPENAI_REALTIME_URL", fake.url)
        result = CliRunner().invoke(
            main, ["call", "--engine", "openai", "--flow", str(CARDS), "--say", "talk to a person"]
        )
    assert result.exit_code == 0, result.output
    assert "bot: Thank you for calling Example Bank card services." in result.stdout
    assert "path: greet → menu → to_agent" in result.stdout
    assert fake.of("session.update") and "sk-test" not in result.output


def test_the_openai_engine_without_a_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLBRIDGE_OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["call", "--engine", "openai", "--flow", str(CARDS)])
    assert result.exit_code == 1 and "CALLBRIDGE_OPENAI_API_KEY" in result.output
