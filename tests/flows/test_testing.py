"""Declarative flow tests: the examples pass with full state coverage; failures point home."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.loader import FlowInvalid
from flows.testing import run_file, transitions

EXAMPLES = Path(__file__).resolve().parents[2] / "flows" / "examples"
FLOWS = sorted(p for p in EXAMPLES.glob("*.yaml") if not p.name.endswith(".test.yaml"))


@pytest.mark.parametrize("flow_file", FLOWS, ids=lambda p: p.stem)
def test_every_example_passes_its_tests_with_full_state_coverage(flow_file: Path) -> None:
    result = run_file(flow_file)  # finds NAME.test.yaml beside it
    assert result.failures == []
    assert result.coverage.state_pct == 100.0, list(result.coverage.lines())
    assert result.coverage.transition_pct >= 75.0


def _suite(tmp_path: Path, steps: str) -> Path:
    (tmp_path / "cards.yaml").write_text((EXAMPLES / "card_services.yaml").read_text())
    test = tmp_path / "cards.test.yaml"
    test.write_text("flow: cards.yaml\ntests:\n  - name: t\n    steps:\n" + steps)
    return test


def test_a_failed_expectation_points_at_its_step(tmp_path: Path) -> None:
    test = _suite(
        tmp_path,
        "      - caller: what is my balance\n      - expect: { state: menu }\n",  # line 6
    )
    result = run_file(test)
    [failure] = result.failures
    assert (failure.line, failure.col) == (6, 9) and failure.test == "t"
    assert "expected state `menu`, the flow is in `ask_dob`" in failure.message


def test_prompt_slot_and_input_checks(tmp_path: Path) -> None:
    bad_prompt = _suite(tmp_path, "      - expect: { prompt: 'goodbye' }\n")
    assert "expected a prompt containing 'goodbye'" in run_file(bad_prompt).failures[0].message
    bad_slot = _suite(
        tmp_path,
        "      - dtmf: '1'\n      - caller: 12 March 1990\n"
        "      - expect: { slots: { dob: '1990-03-13' } }\n",
    )
    assert "it is '1990-03-12'" in run_file(bad_slot).failures[0].message
    wrong_input = _suite(tmp_path, "      - lookup: { verified: true }\n")
    msg = run_file(wrong_input).failures[0].message
    assert "`lookup` given, but the flow in `menu` waits for the caller" in msg


def test_a_malformed_step_is_a_file_error(tmp_path: Path) -> None:
    test = _suite(tmp_path, "      - shout: hello\n")
    with pytest.raises(FlowInvalid) as exc:
        run_file(test)
    p = exc.value.problems[0]
    assert (p.line, p.col) == (5, 9) and "a step is one of" in p.message


def test_missing_test_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "lonely.yaml").write_text((EXAMPLES / "card_services.yaml").read_text())
    with pytest.raises(FlowInvalid) as exc:
        run_file(tmp_path / "lonely.yaml")
    assert "lonely.test.yaml" in str(exc.value) and "cannot read" in str(exc.value)


def test_sub_flow_transitions_run_from_return_to_the_callers_next() -> None:
    from flows.loader import load

    moves = transitions(load(EXAMPLES / "card_services.yaml"))
    assert ("identified", "verify") in moves and ("for_balance", "identify") in moves
    assert ("for_balance", "verify") not in moves
