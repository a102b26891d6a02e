"""baresip as a caller: dials, plays a WAV as its microphone, records what it hears."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np

from bridge.store.wav_files import load_wav, write_wav
from harness.servers import free_udp_port
from media.resample import resample_signal

CONFIG = """\
sip_listen\t\t127.0.0.1:{port}
module_path\t\t/usr/lib/baresip/modules
module\t\t\taccount.so
module\t\t\tmenu.so
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\tsndfile.so
module\t\t\talsa.so
audio_source\t\taufile,{wav}
audio_player\t\talsa,null
audio_alert\t\talsa,null
snd_path\t\t{rec}
rtp_timeout\t\t0
"""


def available() -> bool:
    return shutil.which("baresip") is not None


def _prepare(
    workdir: Path, speech16k: np.ndarray, lead_s: float, seconds: int, account: str, port: int = 0
) -> Path:
    rec = workdir / "rec"
    rec.mkdir(parents=True, exist_ok=True)
    pcm = np.concatenate(
        [np.zeros(int(lead_s * 16000), np.int16), speech16k, np.zeros(16000 * seconds, np.int16)]
    )
    wav = workdir / "mic.wav"
    write_wav(wav, resample_signal(pcm, 16000, 8000), 8000)  # aufile plays 8 kHz only
    port = port or free_udp_port()
    (workdir / "config").write_text(CONFIG.format(port=port, wav=wav, rec=rec))
    (workdir / "accounts").write_text(account + "\n")
    return rec


def _heard(workdir: Path, rec: Path, log: bytes) -> np.ndarray:
    (workdir / "baresip.log").write_bytes(log)
    heard = sorted(rec.glob("dump-*-dec.wav"))
    assert heard, log.decode(errors="replace")[-2000:]
    return load_wav(heard[-1])[0]


async def call(
    workdir: Path, target: str, speech16k: np.ndarray, lead_s: float, seconds: int
) -> np.ndarray:
    """Dial ``target``, say ``speech16k`` after ``lead_s`` of silence, hang up after
    ``seconds``; returns what the caller heard (8 kHz, as received)."""
    account = "<sip:caller@127.0.0.1>;regint=0"
    rec = await asyncio.to_thread(_prepare, workdir, speech16k, lead_s, seconds, account)
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(workdir), "-e", f"/dial {target}", "-t", str(seconds),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), seconds + 20)
    return await asyncio.to_thread(_heard, workdir, rec, out)


class Callee:
    """baresip waiting for a call on 127.0.0.1:``port``; answers at once, says
    ``speech16k`` after ``lead_s``, quits after ``seconds``."""

    def __init__(self, workdir: Path, speech16k: np.ndarray, lead_s: float, seconds: int):
        self.workdir, self.port, self.seconds = workdir, free_udp_port(), seconds
        account = "<sip:callee@127.0.0.1>;regint=0;answermode=auto"
        self.rec = _prepare(workdir, speech16k, lead_s, seconds, account, self.port)
        self.uri = f"sip:callee@127.0.0.1:{self.port}"

    async def __aenter__(self) -> Callee:
        self.proc = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(self.workdir), "-t", str(self.seconds),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        await asyncio.sleep(1.0)  # listening
        return self

    async def __aexit__(self, *exc: object) -> None:
        out, _ = await asyncio.wait_for(self.proc.communicate(), self.seconds + 20)
        self.log = out.decode(errors="replace")
