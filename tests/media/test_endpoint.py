from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from media.endpoint import EndpointConfig, Endpointer


def run(ep: Endpointer, probs: list[float]) -> list[tuple[int, str]]:
    events = []
    for i, p in enumerate(probs):
        started, ended = ep.update(np.array([p]))
        events += [(i, "start")] * len(started) + [(i, "end")] * len(ended)
    return events


def test_onset_needs_consecutive_speech_and_is_dated_back() -> None:
    ep = Endpointer(1, EndpointConfig(onset_ms=60, hangover_ms=200))
    probs = [0, 1, 1, 0, 1, 1, 1, 1] + [0] * 12
    events = run(ep, probs)
    assert events == [(6, "start"), (17, "end")]
    assert ep.speech_start_ms[0] == 4 * 20  # the first frame of the run
    assert ep.speech_end_ms[0] == 8 * 20  # the first silent frame


def test_early_end_when_the_answer_is_complete() -> None:
    ep = Endpointer(1, EndpointConfig(onset_ms=20, hangover_ms=700, early_hangover_ms=200))
    run(ep, [1, 1, 1])
    ep.set_complete(0)
    events = run(ep, [0] * 12)
    assert events == [(9, "end")]  # 10 frames = 200 ms of silence, not 35
    assert not ep.complete[0], "the hint applies to one turn only"


def test_a_held_turn_waits_longer_for_the_rest_of_the_sentence() -> None:
    config = EndpointConfig(onset_ms=20, hangover_ms=200, held_hangover_ms=600)
    ep = Endpointer(1, config)
    run(ep, [1, 1, 1])
    ep.hold(0)  # "how much money is…"
    assert run(ep, [0] * 20 + [1]) == []  # 400 ms of pause: the caller goes on
    assert run(ep, [0] * 31) == [(29, "end")] and not ep.held[0]  # 600 ms, then once only
    run(ep, [1, 1])
    assert run(ep, [0] * 11) == [(9, "end")]  # the next turn has the usual hangover


def test_quiet_counts_the_silence_within_speech_only() -> None:
    ep = Endpointer(1, EndpointConfig(onset_ms=20, hangover_ms=200))
    run(ep, [0, 0])
    assert ep.quiet_ms() == 0  # not in speech: no pause to speak of
    run(ep, [1, 1, 0, 0, 0])
    assert ep.quiet_ms() == 60
    run(ep, [1])
    assert ep.quiet_ms() == 0  # the caller went on
    assert run(ep, [0] * 10) == [(9, "end")] and ep.quiet_ms() == 0


def test_slots_are_independent() -> None:
    ep = Endpointer(3, EndpointConfig(onset_ms=40, hangover_ms=100))
    started, _ = ep.update(np.array([1, 0, 1]))
    assert not len(started)
    started, _ = ep.update(np.array([1, 0, 0]))
    assert started.tolist() == [0]
    ep.reset(0)
    assert not ep.in_speech[0] and ep.frame[0] == 0 and ep.frame[1] == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.booleans(), st.booleans()), min_size=1, max_size=200),
    st.sampled_from([20, 60, 100]),
)
def test_one_call_fast_path_equals_the_vectorised_rules(
    steps: list[tuple[float, bool, bool]], onset_ms: int
) -> None:
    """The single-call scalar path and slot 0 of a two-call endpointer agree frame by frame."""
    config = EndpointConfig(
        onset_ms=onset_ms, hangover_ms=120, early_hangover_ms=40, held_hangover_ms=300
    )
    one, two = Endpointer(1, config), Endpointer(2, config)
    for p, complete, held in steps:
        one.set_complete(0, complete and bool(one.in_speech[0]))
        two.set_complete(0, complete and bool(two.in_speech[0]))
        one.hold(0, held and bool(one.in_speech[0]))
        two.hold(0, held and bool(two.in_speech[0]))
        s1, e1 = one.update(np.array([p]))
        s2, e2 = two.update(np.array([p, 0.0]))
        assert (list(s1), list(e1)) == ([s for s in s2 if s == 0], [e for e in e2 if e == 0])
        for name in ("in_speech", "speech_start_ms", "speech_end_ms", "frame", "_run", "_silence"):
            assert getattr(one, name)[0] == getattr(two, name)[0], name
