from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from media import g711
from media.g711 import audioop

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)
LAWS = [
    ("ulaw", g711.ulaw_encode, g711.ulaw_decode, audioop.lin2ulaw, audioop.ulaw2lin),
    ("alaw", g711.alaw_encode, g711.alaw_decode, audioop.lin2alaw, audioop.alaw2lin),
]


@pytest.mark.parametrize(("name", "enc", "dec", "ref_enc", "ref_dec"), LAWS)
def test_bit_exact_with_audioop(name, enc, dec, ref_enc, ref_dec) -> None:  # type: ignore[no-untyped-def]
    assert enc(ALL_PCM).tobytes() == ref_enc(ALL_PCM.tobytes(), 2)
    assert dec(ALL_CODES).tobytes() == ref_dec(ALL_CODES.tobytes(), 2)


@pytest.mark.parametrize(("name", "enc", "dec", "ref_enc", "ref_dec"), LAWS)
@given(pcm=hnp.arrays(np.int16, st.integers(1, 400)))
def test_round_trip_error_is_within_the_segment_step(name, enc, dec, ref_enc, ref_dec, pcm) -> None:  # type: ignore[no-untyped-def]
    back = dec(enc(pcm)).astype(np.int32)
    err = np.abs(back - pcm.astype(np.int32))
    # G.711 keeps 4 mantissa bits: the error is below 1/16 of the magnitude, plus
    # the smallest step (mu-law's bias and A-law's first segment).
    assert np.all(err <= np.abs(pcm.astype(np.int32)) // 16 + 64)
    # Decoding is a projection: re-encoding decoded audio changes nothing.
    assert np.array_equal(dec(enc(back.astype(np.int16))), back)


def test_shapes_are_kept_for_batches() -> None:
    batch = np.zeros((7, 160), np.int16)
    assert g711.ulaw_encode(batch).shape == (7, 160)
    assert g711.ulaw_decode(g711.ulaw_encode(batch)).dtype == np.int16
