"""Paced playout of the bot's audio, with instant barge-in.

The bridge's clock calls :meth:`Playout.next_frame` every 20 ms; it returns the
next frame of queued audio (or None when idle) and the marks playback has just
reached. :meth:`Playout.clear` empties the queue at once, so the caller hears
nothing more after the frame already sent, and reports exactly how many
milliseconds of each utterance were handed to the line. That is not yet what the
caller heard when the line buffers audio of its own (a carrier's playback): the
bridge nets that off (``bridge.conversation.heard``) before the speech engine
truncates what the bot "said".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from media.format import FRAME_MS, I16
from media.line_codec import LineCodec


@dataclass
class _Chunk:
    utterance: str
    audio: I16  # whole frames only (the tail is padded)
    line: bytes | None = None  # the same audio in the carrier's encoding, once it is at the head
    line_pcm: I16 | None = None  # that encoding decoded again (what the line will sound like)


@dataclass
class _Mark:
    name: str


@dataclass
class Played:
    """How much of an utterance was handed to the line."""

    utterance: str
    played_ms: int
    total_ms: int
    done: bool = False


@dataclass
class Playout:
    frame_samples: int
    # When set, each chunk is converted to the carrier's encoding as its first frame is
    # played (in playback order, so the line's filter history runs on; never for audio a
    # barge-in drops) and :attr:`line_frame` holds the bytes of the frame just returned.
    line: LineCodec | None = None
    line_frame: bytes | None = None
    # And with ``keep_line_pcm``, :attr:`line_pcm` the same frame decoded from those bytes,
    # at the line's rate (a recording of what went over the wire, one decode per chunk).
    keep_line_pcm: bool = False
    line_pcm: I16 | None = None
    _queue: deque[_Chunk | _Mark] = field(default_factory=deque)
    _offset: int = 0  # samples of the head chunk already played
    _chunks: int = 0  # chunks in the queue (busy is asked every frame)
    _played: dict[str, Played] = field(default_factory=dict)

    def enqueue(self, utterance: str, audio: I16) -> None:
        """Queue audio of ``utterance`` (any length; the last frame is padded with silence)."""
        n = self.frame_samples
        pad = (-len(audio)) % n
        if pad:
            audio = np.concatenate([audio, np.zeros(pad, np.int16)])
        if not len(audio):
            return
        self._queue.append(_Chunk(utterance, audio))
        self._chunks += 1
        p = self._played.setdefault(utterance, Played(utterance, 0, 0))
        p.total_ms += len(audio) // n * FRAME_MS

    def mark(self, name: str) -> None:
        """A mark that fires when everything queued before it has been played."""
        self._queue.append(_Mark(name))

    @property
    def busy(self) -> bool:
        return self._chunks > 0

    @property
    def playing(self) -> str | None:
        """The utterance the next frame belongs to."""
        for item in self._queue:
            if isinstance(item, _Chunk):
                return item.utterance
        return None

    @property
    def queued_ms(self) -> int:
        samples = sum(len(c.audio) for c in self._queue if isinstance(c, _Chunk)) - self._offset
        return samples // self.frame_samples * FRAME_MS

    def next_frame(self) -> tuple[I16 | None, list[str]]:
        marks = self._fire_marks()
        if not self._queue:
            self.line_frame = None
            return None, marks
        head = self._queue[0]
        assert isinstance(head, _Chunk)
        n = self.frame_samples
        frame = head.audio[self._offset : self._offset + n]
        if self.line is not None:
            if head.line is None:
                head.line = self.line.encode(head.audio)
                if self.keep_line_pcm:
                    head.line_pcm = self.line.narrow(head.line)
            step = self.line.frame_bytes
            start = self._offset // n * step
            self.line_frame = head.line[start : start + step]
            if head.line_pcm is not None:
                k = self._offset // n * self.line.samples
                self.line_pcm = head.line_pcm[k : k + self.line.samples]
        self._offset += n
        self._played[head.utterance].played_ms += FRAME_MS
        if self._offset >= len(head.audio):
            self._queue.popleft()
            self._chunks -= 1
            self._offset = 0
            p = self._played[head.utterance]
            p.done = not any(
                isinstance(c, _Chunk) and c.utterance == head.utterance for c in self._queue
            )
            marks += self._fire_marks()
        return frame, marks

    def _fire_marks(self) -> list[str]:
        fired = []
        while self._queue and isinstance(mark := self._queue[0], _Mark):
            self._queue.popleft()
            fired.append(mark.name)
        return fired

    def clear(self) -> tuple[list[Played], list[str]]:
        """Barge-in: drop everything queued. Returns what each interrupted utterance
        had handed to the line, and the marks that will now never fire."""
        interrupted = {c.utterance for c in self._queue if isinstance(c, _Chunk)}
        dropped = [m.name for m in self._queue if isinstance(m, _Mark)]
        self._queue.clear()
        self._chunks = 0
        self._offset = 0
        if self.line is not None:
            self.line.restart_outbound()
        result = [self._played.pop(u) for u in sorted(interrupted) if u in self._played]
        return result, dropped

    def played(self, utterance: str) -> Played | None:
        return self._played.get(utterance)
