"""Frames between pjmedia and Python."""

from __future__ import annotations

import pjsua2 as pj

from sip.media import _vector_bytes_direct, vector_bytes


def test_frames_are_read_from_pjsua2_vectors_exactly_and_directly() -> None:
    frame = pj.MediaFrame()
    pcm = bytes(range(256)) * 2 + bytes(128)
    frame.buf = pj.ByteVector(pcm)
    assert vector_bytes is _vector_bytes_direct  # the fast read is proven on this build
    assert vector_bytes(frame.buf) == pcm
    assert vector_bytes(pj.ByteVector(b"")) == b""
