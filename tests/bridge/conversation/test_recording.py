"""Each call is recorded in stereo on its own clock, and sensitive states are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.conversation import recording
from bridge.conversation.recording import RecordingsStore, recording_path
from bridge.store.wav_files import load_wav
from tests.bridge.conversation.calls import CARDS, VERIFY, call, script

ANSWERS = {VERIFY: {"verified": True, "status": "active", "balance": 75}}


async def test_both_sides_recorded_and_the_card_number_state_silent(tmp_path: Path) -> None:
    path = recording_path(tmp_path, "call-1")
    c = await call(CARDS, script("#1", "12 March 1990", "#1234#"), ANSWERS, record=path)
    assert "ask_card" in c.path
    stereo, rate = load_wav(path)
    assert rate == 16000 and stereo.shape[1] == 2
    bot = np.concatenate(c.leg.bot_audio)
    caller = np.concatenate(c.leg.caller_audio)
    assert len(stereo) == len(caller)  # one frame per caller frame: the call's clock
    left, right = stereo[:, 0], stereo[:, 1]
    loud = np.abs(bot.astype(np.int32)).reshape(-1, 320).max(axis=1) > 1000
    kept = np.abs(right.astype(np.int32)).reshape(-1, 320).max(axis=1) > 1000
    # The bot's words are on the right, frame for frame (written with the next caller
    # frame: 20 ms later), except the sensitive prompt.
    kept, loud = kept[1:], loud[:-1]
    assert (kept <= loud).all()
    silenced = np.flatnonzero(loud & ~kept)
    assert 50 <= len(silenced) <= 400, len(silenced)  # "Please key in the last four digits…"
    assert np.array_equal(left[:16000], caller[:16000])
    said = [e for e in c.of("transcript.final") if e.speaker == "bot"]
    assert any(e.text == "[sensitive]" for e in said)


def test_an_id_that_is_no_plain_name_cannot_leave_the_folder(tmp_path: Path) -> None:
    odd = recording_path(tmp_path, "../../etc/passwd@pbx.example.com")
    assert odd.parent == tmp_path / "recordings" and ".." not in odd.name
    assert recording_path(tmp_path, "CA0123abc").name == "CA0123abc.wav"


async def test_a_recordings_folder_that_cannot_be_written_fails_the_recording_not_the_call(
    tmp_path: Path,
) -> None:
    (tmp_path / "recordings").write_text("a file where the folder should be")
    failures: list[str] = []
    path = recording_path(tmp_path, "call-2")
    c = await call(CARDS, script("#1", "12 March 1990", "#1234#"), ANSWERS, record=path,
                   recording_failed=failures.append)  # fmt: skip
    assert "balance" in c.path and c.runtime.result.reason != "engine_failed"  # went on
    [failed] = c.of("recording.failed")
    assert failed.seq == 1 and "Error" in failed.reason  # right after call.started
    assert failures == [failed.reason]


async def test_a_disk_that_fills_during_the_call_stops_only_the_recording(tmp_path: Path) -> None:
    """/dev/full takes the file's opening and answers every write with ENOSPC."""
    failures: list[str] = []
    c = await call(CARDS, script("#1", "12 March 1990", "#1234#"), ANSWERS,
                   record=Path("/dev/full"), recording_failed=failures.append)  # fmt: skip
    assert "balance" in c.path
    [failed] = c.of("recording.failed")
    assert "OSError" in failed.reason and "No space" in failed.reason
    # once, though every later frame would fail too; the disk is written by a thread, so
    # on a call this fast the failure may come after the call's end, but it comes
    assert len(failures) == 1


def test_the_store_says_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RecordingsStore(tmp_path / "recordings")
    assert store.check() == "ok" and not list((tmp_path / "recordings").iterdir())
    store.failed("OSError: Input/output error")
    assert store.check() == "failing: OSError: Input/output error"
    monkeypatch.setattr(recording, "FAILING_FOR_S", 0.0)
    assert store.check() == "ok"  # a while later, and nothing failed since
    monkeypatch.setattr(recording, "FAILING_FOR_S", 60.0)
    store.failed("OSError: No space left on device")
    assert store.check() == "ok"  # a full disk is over once the probe writes and there's room
    monkeypatch.setattr(recording, "MIN_FREE_BYTES", 2**62)
    assert store.check().startswith("low disk: ")
    blocked = RecordingsStore(tmp_path / "file" / "recordings")
    (tmp_path / "file").write_text("")
    assert blocked.check().startswith("unwritable: ")
    assert RecordingsStore(tmp_path / "off", enabled=False).path_for("x") is None
