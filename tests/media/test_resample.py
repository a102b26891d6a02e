from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from media.format import AudioFormatError, frame_samples
from media.resample import Resampler

PAIRS = [(a, b) for a in (8000, 16000, 24000, 48000) for b in (8000, 16000, 24000, 48000) if a != b]


def _reference(r: Resampler, x: np.ndarray) -> np.ndarray:
    """The same filter applied to the whole signal at once (scipy's polyphase FIR)."""
    up, down = (
        r.out_rate // np.gcd(r.in_rate, r.out_rate),
        r.in_rate // np.gcd(r.in_rate, r.out_rate),
    )
    y = signal.upfirdn(r.taps.astype(np.float64), x.astype(np.float64), up, down)
    return y[: len(x) * up // down]


BANDS = [(a, b, "steep") for a, b in PAIRS] + [
    (a, b, "telephone") for a, b in PAIRS if 8000 in (a, b)
]


@pytest.mark.parametrize(("a", "b", "band"), BANDS)
@settings(max_examples=10, deadline=None)
@given(frames=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_frame_by_frame_equals_whole_signal(
    a: int, b: int, band: str, frames: int, seed: int
) -> None:
    r = Resampler(a, b, band=band)  # type: ignore[arg-type]
    x = np.random.default_rng(seed).integers(-20000, 20000, frames * r.n_in).astype(np.int16)
    pieces = np.concatenate([r.process(x[i : i + r.n_in])[0] for i in range(0, len(x), r.n_in)])
    np.testing.assert_allclose(pieces, _reference(r, x), atol=0.05 * 20000 * 1e-3)
    whole = Resampler(a, b, band=band).process(x[None, :])[0]  # type: ignore[arg-type]
    # The same sums in another order: equal to float32 rounding, far below one int16 step.
    np.testing.assert_allclose(whole, pieces, atol=0.05)


@pytest.mark.parametrize(("a", "b", "band"), BANDS)
@settings(max_examples=5, deadline=None)
@given(frames=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_many_slots_equal_one_stream_each(
    a: int, b: int, band: str, frames: int, seed: int
) -> None:
    """Several slots take the banded products (and, 8 -> 16 kHz in the telephone band,
    copy the half-band's pass-through phase): the same output as one dense stream."""
    x = np.random.default_rng(seed).integers(-20000, 20000, (4, frames * frame_samples(a)))
    many = Resampler(a, b, slots=4, band=band)  # type: ignore[arg-type]
    n = many.n_in
    got = np.concatenate([many.process(x[:, i : i + n]) for i in range(0, x.shape[1], n)], axis=1)
    for slot in range(4):
        one = Resampler(a, b, band=band)  # type: ignore[arg-type]
        want = np.concatenate([one.process(x[slot, i : i + n])[0] for i in range(0, x.shape[1], n)])
        np.testing.assert_allclose(got[slot], want, atol=0.05)


def test_the_half_band_interpolator_copies_every_other_sample() -> None:
    r = Resampler(8000, 16000, slots=2, band="telephone")
    assert r._copy is not None and r._products.shape == (2, 160)  # half the products
    assert Resampler(8000, 16000, slots=2)._copy is None  # the steep filter has no zeros


def _tone_db(y: np.ndarray, rate: int, freq: float) -> float:
    """Power of ``freq`` in ``y`` relative to the signal's total, in dB."""
    t = np.arange(len(y)) / rate
    ref = np.exp(-2j * np.pi * freq * t)
    amp = 2 * abs(np.dot(y, ref)) / len(y)
    return 20 * np.log10(amp + 1e-12)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_pass_band_snr(a: int, b: int) -> None:
    r = Resampler(a, b)
    freq = 1000.0
    n = 50 * r.n_in
    x = 10000 * np.sin(2 * np.pi * freq * np.arange(n) / a)
    y = r.process(x[None, :])[0]
    d = int(np.ceil(r.delay_out)) + 10
    t = (np.arange(len(y)) - r.delay_out) / b
    ideal = 10000 * np.sin(2 * np.pi * freq * t)
    err = y[d:-d] - ideal[d:-d]
    snr = 10 * np.log10(np.mean(ideal[d:-d] ** 2) / np.mean(err**2))
    assert snr >= 50, f"{a}->{b}: SNR {snr:.1f} dB"


@pytest.mark.parametrize(("a", "b"), [(16000, 8000), (24000, 8000), (48000, 16000), (24000, 16000)])
def test_stop_band_attenuation_when_decimating(a: int, b: int) -> None:
    """A tone above the new Nyquist must not alias back into the audible band."""
    r = Resampler(a, b)
    freq = 0.5 * b + 0.3 * (0.5 * a - 0.5 * b)  # well inside the stop band
    n = 50 * r.n_in
    x = 10000 * np.sin(2 * np.pi * freq * np.arange(n) / a)
    y = r.process(x[None, :])[0][r.n_out * 5 :]
    alias = abs(b * round(freq / b) - freq)
    level = _tone_db(y, b, alias) - 20 * np.log10(10000)
    assert level <= -60, f"{a}->{b}: alias of {freq:.0f} Hz at {level:.1f} dB"


def test_image_rejection_when_interpolating() -> None:
    r = Resampler(8000, 16000)
    x = 10000 * np.sin(2 * np.pi * 1000 * np.arange(100 * 160) / 8000)
    y = r.process(x[None, :])[0][3200:]
    assert _tone_db(y, 16000, 7000) - 20 * np.log10(10000) <= -60


def _tone_through(a: int, b: int, freq: float, band: str = "telephone") -> np.ndarray:
    r = Resampler(a, b, band=band)  # type: ignore[arg-type]
    x = 10000 * np.sin(2 * np.pi * freq * np.arange(100 * r.n_in) / a)
    return r.process(x[None, :])[0][r.n_out * 5 :]


TELEPHONE_BAND = np.linspace(300, 3400, 12)
FULL_SCALE_DB = 20 * np.log10(10000)


@pytest.mark.parametrize("a", [16000, 24000, 48000])
def test_to_a_phone_line_the_band_is_flat_and_nothing_above_46_khz_folds_in(a: int) -> None:
    """G.712's channel: flat to 3.4 kHz; whatever lies from 4.6 kHz up is stopped, so no
    alias lands below 3.4 kHz (4 to 4.6 kHz folds onto 3.4 to 4 kHz, above the band)."""
    gains = [_tone_db(_tone_through(a, 8000, f), 8000, f) - FULL_SCALE_DB for f in TELEPHONE_BAND]
    assert max(abs(g) for g in gains) <= 0.05, gains
    for freq in np.linspace(4600, a / 2 - 100, 12):
        alias = abs(8000 * round(freq / 8000) - freq)
        level = _tone_db(_tone_through(a, 8000, freq), 8000, alias) - FULL_SCALE_DB
        assert level <= -65, f"{a}->8000: {freq:.0f} Hz folds in at {level:.1f} dB"
    # Half as long as the steep filter: why audio to the caller's line takes this band.
    assert len(Resampler(a, 8000, band="telephone").taps) < 0.6 * len(Resampler(a, 8000).taps)


@pytest.mark.parametrize("b", [16000, 24000, 48000])
def test_from_a_phone_line_the_telephone_band_stops_its_images(b: int) -> None:
    for freq in TELEPHONE_BAND:
        y = _tone_through(8000, b, freq)
        assert abs(_tone_db(y, b, freq) - FULL_SCALE_DB) <= 0.05
        images = [k * 8000 + s * freq for k in range(1, b // 8000) for s in (-1, 1)]
        worst = max(_tone_db(y, b, im) for im in images if im < b / 2) - FULL_SCALE_DB
        assert worst <= -65, f"8000->{b}: an image of {freq:.0f} Hz at {worst:.1f} dB"


def test_the_telephone_band_is_for_8_khz_lines_only() -> None:
    with pytest.raises(AudioFormatError, match="8 kHz"):
        Resampler(48000, 16000, band="telephone")


def test_slots_are_independent_and_resettable() -> None:
    r = Resampler(8000, 16000, slots=3)
    rng = np.random.default_rng(3)
    x = rng.integers(-9000, 9000, (3, 160)).astype(np.int16)
    x[1] = 0
    y1 = r.process(x)
    assert np.all(y1[1] == 0)
    single = Resampler(8000, 16000).process(x[2])
    np.testing.assert_allclose(y1[2], single[0], atol=0.02)
    r.reset(2)
    np.testing.assert_allclose(r.process(x)[2], single[0], atol=0.02)


def test_wrong_shapes_are_rejected() -> None:
    r = Resampler(8000, 16000, slots=2)
    with pytest.raises(AudioFormatError, match="expected"):
        r.process(np.zeros((2, 161)))
    with pytest.raises(AudioFormatError):
        r.process(np.zeros((3, 160)))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_int16_output_is_the_rounded_saturated_float_output(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = Resampler(8000, 16000, slots=3), Resampler(8000, 16000, slots=3)
    for _ in range(3):  # state carries across frames the same way in both
        x = rng.integers(-32768, 32767, (3, a.n_in)).astype(np.int16)
        want = np.clip(np.rint(a.process(x)), -32768, 32767).astype(np.int16)
        np.testing.assert_array_equal(b.process_int16(x), want)
