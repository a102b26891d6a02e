"""Linear PCM: L16 in either byte order, and float <-> int16 with saturation."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from media.format import AudioFormatError

ByteOrder = Literal["big", "little"]
_DTYPES = {"big": np.dtype(">i2"), "little": np.dtype("<i2")}


def l16_decode(data: bytes, byteorder: ByteOrder) -> npt.NDArray[np.int16]:
    """L16 bytes (RTP's L16 is big-endian; Vonage's WebSocket sends little-endian)."""
    if len(data) % 2:
        raise AudioFormatError(f"L16 payload of odd length {len(data)}")
    return np.frombuffer(data, dtype=_DTYPES[byteorder]).astype(np.int16)


def l16_encode(pcm: npt.NDArray[np.int16], byteorder: ByteOrder) -> bytes:
    return pcm.astype(_DTYPES[byteorder], copy=False).tobytes()


def to_int16(x: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """Round float samples (int16 scale) to int16, saturating instead of wrapping."""
    y = np.rint(x)
    np.clip(y, -32768, 32767, out=y)
    return y.astype(np.int16)
