"""Kamailio as the SIP front door of a worker pool: the bridge writes the dispatcher
list and runs ``deploy/kamailio/kamailio.cfg`` with its defines.

Kamailio answers on the public SIP port and hands each INVITE to the least loaded
worker; the workers' own ports stay private. It runs in the foreground (``-DD``) in a
process group of its own, tied to the bridge by ``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.logs import get_logger
from bridge.process.children import die_with_parent
from sip.config import SipConfig
from sip.probe import options_ping

log = get_logger(__name__)
CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "kamailio" / "kamailio.cfg"
WORKER_CALLS = SipConfig().capacity  # what one pjsua2 worker answers at once


def available(binary: str = "kamailio") -> bool:
    return shutil.which(binary) is not None


def dispatcher_list(workers: list[str], maxload: int = WORKER_CALLS) -> str:
    """Set 1 of the dispatcher: each worker probed with OPTIONS (flag 8), counted by its
    own id, and never given more than ``maxload`` calls."""
    lines = [f"1 {uri} 8 0 duid=w{i};maxload={maxload}" for i, uri in enumerate(workers)]
    return "\n".join(lines) + "\n"


@dataclass
class Kamailio:
    listen_host: str
    listen_port: int
    workers: list[str]  # SIP URIs, e.g. sip:127.0.0.1:5061
    run_dir: Path
    binary: str = "kamailio"
    ping_interval_s: int = 2

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        listen = f"udp:{self.listen_host}:{self.listen_port}"
        return [
            self.binary, "-DD", "-E", "-f", str(CONFIG),
            "-Y", str(self.run_dir), "-P", str(self.run_dir / "kamailio.pid"),
            "-A", f"LISTEN={listen}",
            "-A", f'DISPATCHER_LIST="{self.run_dir / "dispatcher.list"}"',
            "-A", f"PING_INTERVAL={self.ping_interval_s}",
            "-A", f'CTL_SOCKET="unix:{self.ctl_socket}"',
        ]  # fmt: skip

    @property
    def ctl_socket(self) -> Path:
        return self.run_dir / "ctl.sock"

    def reload(self) -> bool:
        """Reload the dispatcher list. It also sets every worker's call count to zero:
        counts of calls that died with a worker go, live calls are undercounted until
        they end, and a worker that is fuller than Kamailio thinks answers 503, which
        sends the call on to the next worker."""
        kamcmd = shutil.which("kamcmd")  # Kamailio's own control client, in its package
        if kamcmd is None:
            return False
        r = subprocess.run(
            [kamcmd, "-s", f"unix:{self.ctl_socket}", "dispatcher.reload"],
            capture_output=True, text=True, timeout=5,
        )  # fmt: skip
        if r.returncode != 0:
            log.warning("kamailio dispatcher reload failed", error=r.stderr.strip()[-200:])
        return r.returncode == 0

    def start(self, timeout: float = 10.0) -> None:
        """Write the dispatcher list, start Kamailio and wait until it answers OPTIONS.
        Call from a long-lived thread (see :func:`die_with_parent`)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "dispatcher.list").write_text(dispatcher_list(self.workers))
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # with -E its log goes to stderr, the bridge's
            preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C reaches the bridge, which stops Kamailio last
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"kamailio exited at start (status {self._proc.returncode})")
            if options_ping(self.probe_host, self.listen_port):
                log.info("kamailio listening", port=self.listen_port, workers=len(self.workers))
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"kamailio did not answer on port {self.listen_port}")

    @property
    def probe_host(self) -> str:
        return "127.0.0.1" if self.listen_host in ("0.0.0.0", "") else self.listen_host

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the main process and its children
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.info("kamailio stopped")
