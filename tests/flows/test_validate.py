"""Each class of mistake is caught, at the right line and column, with a fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from flows.loader import FlowInvalid, Problem, loads
from flows.model import json_schema

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
flow: t
start: menu
slots:
  pin: { type: digits, length: 4 }
intents:
  yes: { examples: ["yes", "yeah"] }
defaults:
  no_input: { prompts: ["Hello?"], then: bye }
  no_match: { prompts: ["Sorry?"], then: bye }
states:
"""  # states start on line 11


def problems(states: str, head: str = HEAD) -> list[Problem]:
    with pytest.raises(FlowInvalid) as exc:
        loads(head + states, "t.yaml")
    return exc.value.problems


def one(states: str, head: str = HEAD) -> Problem:
    found = problems(states, head)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_flow_loads() -> None:
    flow = loads(
        HEAD + "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: bye }\n"
        "  bye:\n    hangup: Bye\n"
    )
    assert set(flow.states) == {"menu", "bye"}


def test_yaml_syntax_error_points_at_the_line() -> None:
    p = one("  menu:\n    ask: 'unterminated\n  bye: {hangup: true}\n")
    assert (p.line, p.col, p.file) == (12, 10, "t.yaml")
    assert p.message.startswith("YAML syntax") and "quotes" in p.fix


def test_duplicate_keys_are_an_error() -> None:
    p = one("  bye:\n    hangup: true\n  bye:\n    hangup: true\n")
    assert p.line == 13 and "duplicate" in p.message


def test_unknown_key_with_a_suggestion() -> None:
    p = one(
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: bye }\n    nxt: bye\n"
        "  bye:\n    hangup: true\n"
    )
    assert (p.line, p.col) == (15, 5)
    assert "unknown key `nxt`" in p.message and "`next`" in p.fix


def test_missing_key() -> None:
    p = one(
        "  menu:\n    lookup: { url: 'http://x' }\n    next: bye\n    on_error: bye\n"
        "  bye:\n    hangup: true\n"
    )
    assert (p.line, p.col) == (12, 5)
    assert "missing `result`" in p.message and "add `result:`" in p.fix


def test_state_of_no_kind() -> None:
    p = one("  menu:\n    next: bye\n  bye:\n    hangup: true\n")
    assert (p.line, p.col) == (11, 3)
    assert "say, ask, converse" in p.fix


def test_unknown_state_with_a_suggestion() -> None:
    p = one(
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: byee }\n"
        "  bye:\n    hangup: true\n"
    )
    assert (p.line, p.col) == (14, 16)
    assert p.message == "unknown state `byee`" and "`bye`" in p.fix


def test_unreachable_state() -> None:
    p = one(
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: bye }\n"
        "  bye:\n    hangup: true\n  orphan:\n    hangup: true\n"
    )
    assert (p.line, p.col) == (17, 3)
    assert p.message == "state `orphan` can never be reached"


def test_dead_end() -> None:
    p = one(
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: stuck }\n"
        "  stuck:\n    say: Hmm\n  bye:\n    hangup: true\n"
    )
    assert (p.line, p.col) == (15, 3)
    assert p.message == "state `stuck` is a dead end" and "hangup" in p.fix


def test_missing_no_input_and_no_match_handling() -> None:
    head = HEAD.replace(
        'defaults:\n  no_input: { prompts: ["Hello?"], then: bye }\n'
        '  no_match: { prompts: ["Sorry?"], then: bye }\n',
        "",
    )
    found = problems(
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: bye }\n"
        "  bye:\n    hangup: true\n",
        head,
    )
    assert [p.message for p in found] == [
        "state `menu` has no no_input handling",
        "state `menu` has no no_match handling",
    ]
    assert all(p.line == 8 for p in found)


def test_retry_without_a_way_out() -> None:
    p = one(
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: bye }\n"
        "    no_match: { prompts: [again] }\n  bye:\n    hangup: true\n"
    )
    assert (p.line, p.col) == (15, 5) and "without `then:`" in p.message


def test_template_name_that_does_not_exist() -> None:
    p = one("  menu:\n    say: 'Hello {nmae}'\n    next: bye\n  bye:\n    hangup: true\n")
    assert (p.line, p.col) == (12, 10)
    assert "`{nmae}` is not a slot" in p.message


def test_slot_used_before_it_can_be_set() -> None:
    p = one(
        "  menu:\n    say: 'Your PIN is {pin}'\n    next: get\n"
        "  get:\n    ask: PIN?\n    collect: pin\n    next: bye\n  bye:\n    hangup: true\n"
    )
    assert (p.line, p.col) == (12, 10)
    assert p.message == "`{pin}` is used before any path sets it"


def test_slot_set_on_one_path_only_is_not_set() -> None:
    found = problems(
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: get, '1': read }\n"
        "  get:\n    ask: PIN?\n    collect: pin\n    next: read\n"
        "  read:\n    hangup: 'PIN {pin}'\n  bye:\n    hangup: true\n"
    )
    assert [(p.line, p.message) for p in found] == [(20, "`{pin}` is used before any path sets it")]


def test_sensitive_slot_must_not_reach_a_converse_state() -> None:
    p = one(
        "  menu:\n    ask: PIN?\n    collect: pin\n    sensitive: true\n    next: chat\n"
        "  chat:\n    converse: { instructions: 'Help. The PIN is {pin}.' }\n"
        "    on: { yes: bye }\n  bye:\n    hangup: true\n"
    )
    assert p.line == 17 and p.message == "sensitive slot `pin` would be sent to the model"


def test_a_converse_state_may_only_name_the_flows_tools() -> None:
    head = HEAD.replace(
        "states:\n",
        "tools:\n  order_status: { description: Find an order, "
        "url: 'http://shop/{args.id}' }\nstates:\n",
    )
    p = one(
        "  menu:\n    converse: { instructions: Help., tools: [order_stats] }\n"
        "    on: { yes: bye }\n  bye:\n    hangup: true\n",
        head,
    )
    assert (p.line, p.message) == (14, "unknown tool `order_stats`")
    assert "order_status" in p.fix


def test_sensitive_slot_must_not_be_spoken_in_clear() -> None:
    p = one(
        "  menu:\n    ask: PIN?\n    collect: pin\n    sensitive: true\n    next: bye\n"
        "  bye:\n    hangup: 'You said {pin}'\n"
    )
    assert p.line == 17 and "spoken and transcribed in clear" in p.message


def test_bad_branch_condition() -> None:
    found = problems(
        "  menu:\n    branch:\n      - { if: '__import__(\"os\")', goto: bye }\n"
        "      - { if: 'colour == \"red\"', goto: bye }\n    else: bye\n"
        "  bye:\n    hangup: true\n"
    )
    assert [(p.line, p.message.split(" ")[0]) for p in found] == [(13, "Call"), (14, "`colour`")]


SUB = (
    "  menu:\n    call: get_pin\n    next: done\n"  # line 12
    "  get_pin:\n    ask: PIN?\n    collect: pin\n    next: back\n"
    "  back:\n    return: true\n"
)
BYE = "  bye:\n    hangup: true\n"


def test_a_slot_set_inside_a_sub_flow_is_set_after_it_returns() -> None:
    loads(HEAD + SUB + "  done:\n    hangup: 'Thanks, PIN ending {pin}.'\n" + BYE, "t.yaml")


def test_a_slot_a_sub_flow_may_not_set_is_used_before_set() -> None:
    sub = SUB.replace("ask: PIN?", "ask: PIN?\n    on: { yes: skip }")
    sub += "  skip:\n    say: OK\n    next: back\n"
    p = one(sub + "  done:\n    hangup: 'Thanks, PIN ending {pin}.'\n" + BYE)
    assert (p.line, p.col) == (25, 13) and "used before any path sets it" in p.message


def test_return_outside_a_sub_flow() -> None:
    found = problems("  menu:\n    say: Hi\n    next: back\n  back:\n    return: true\n" + BYE)
    p = next(p for p in found if "return" in p.message)
    assert (p.line, p.col) == (15, 5) and "without a `call:`" in p.message


def test_set_of_an_undeclared_variable() -> None:
    found = problems("  menu:\n    set: { colour: red }\n    hangup: true\n" + BYE)
    p = next(p for p in found if "colour" in p.message)
    assert (p.line, p.col) == (12, 12) and "`colour` is not a declared variable" in p.message


def test_validation_condition_names_are_checked() -> None:
    p = one(
        "  menu:\n    ask: PIN?\n    collect: pin\n"
        "    validate: { if: 'pn != \"0000\"', prompt: No }\n    next: bye\n" + BYE
    )
    assert (p.line, p.col) == (14, 21) and "`pn` in the condition" in p.message
    assert "did you mean `pin`?" in p.fix


def test_fallback_must_be_a_transfer_or_hangup() -> None:
    head = HEAD.replace("start: menu\n", "start: menu\nfallback: menu\n")
    p = one("  menu:\n    say: Hi\n    next: bye\n" + BYE, head)
    assert (p.line, p.col) == (3, 11) and "is not a transfer or hangup state" in p.message


def test_example_flows_are_valid_and_the_cli_agrees() -> None:
    examples = (ROOT / "flows" / "examples").glob("*.yaml")
    files = sorted(str(p) for p in examples if not p.name.endswith(".test.yaml"))
    assert files
    result = CliRunner().invoke(main, ["flows", "validate", *files])
    assert result.exit_code == 0, result.output


def test_cli_exits_1_and_prints_file_line_col(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        HEAD + "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: stuck }\n"
        "  stuck:\n    say: Hmm\n  bye:\n    hangup: true\n"
    )
    result = CliRunner().invoke(main, ["flows", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:15:3: state `stuck` is a dead end." in result.output


def test_published_schema_is_current() -> None:
    published = json.loads((ROOT / "flows" / "schema" / "flow.schema.json").read_text())
    assert published == json_schema(), (
        "run: callbridge flows schema > flows/schema/flow.schema.json"
    )


def test_an_intents_slots_must_exist_and_not_be_sensitive() -> None:
    head = HEAD.replace(
        '  yes: { examples: ["yes", "yeah"] }',
        '  yes: { examples: ["yes", "yeah"], slots: [pin, pim] }',
    )
    states = (
        "  menu:\n    ask: Hi\n    intents: [yes]\n    on: { yes: card }\n"
        "  card:\n    ask: Your PIN?\n    collect: pin\n    sensitive: true\n    next: bye\n"
        "  bye:\n    hangup: Bye\n"
    )
    found = problems(states, head)
    messages = sorted(p.message for p in found)
    assert messages == ["`pin` is collected in a sensitive state", "unknown slot `pim`"], found
    assert {p.line for p in found} == {6}


def test_nesting_thousands_deep_is_a_flow_error_at_its_line(tmp_path: Path) -> None:
    """Not a RecursionError (an HTTP 500 from /api/flows/validate): a problem at the
    line where the value goes too deep, from the loader and the CLI alike."""
    deep = "[" * 5000 + "]" * 5000
    p = one(f"  menu:\n    say: {deep}\n    next: bye\n" + BYE)
    assert p.line == 12 and "nested more than" in p.message
    bad = tmp_path / "deep.yaml"
    bad.write_text(HEAD + f"  menu:\n    say: {deep}\n")
    result = CliRunner().invoke(main, ["flows", "validate", str(bad)])
    assert result.exit_code == 1 and "nested more than" in result.output, result.output
