from __future__ import annotations

import numpy as np
import pytest

from media.format import AudioFormatError, frame_samples
from media.pcm import l16_decode, l16_encode, to_int16


def test_l16_both_byte_orders() -> None:
    pcm = np.array([1, -2, 300, -32768, 32767], np.int16)
    assert l16_encode(pcm, "big") == b"\x00\x01\xff\xfe\x01\x2c\x80\x00\x7f\xff"
    assert l16_encode(pcm, "little") == b"\x01\x00\xfe\xff\x2c\x01\x00\x80\xff\x7f"
    for order in ("big", "little"):
        back = l16_decode(l16_encode(pcm, order), order)  # type: ignore[arg-type]
        assert back.dtype == np.int16 and np.array_equal(back, pcm)


def test_odd_length_l16_is_rejected() -> None:
    with pytest.raises(AudioFormatError, match="odd length"):
        l16_decode(b"\x00\x01\x02", "little")


def test_to_int16_saturates_and_rounds() -> None:
    assert to_int16(np.array([1e6, -1e6, 1.5, -1.4])).tolist() == [32767, -32768, 2, -1]


def test_frame_samples_and_unsupported_rates() -> None:
    assert [frame_samples(r) for r in (8000, 16000, 24000, 48000)] == [160, 320, 480, 960]
    with pytest.raises(AudioFormatError, match="11025"):
        frame_samples(11025)
