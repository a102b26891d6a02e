"""`callbridge flows ...` as an admin runs it: simulate in a real terminal, test, graph."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
from click.testing import CliRunner

from bridge.cli import main

ROOT = Path(__file__).resolve().parents[3]
CARDS = ROOT / "flows" / "examples" / "card_services.yaml"
APPTS = ROOT / "flows" / "examples" / "appointments.yaml"
CALLBRIDGE = str(Path(sys.executable).with_name("callbridge"))


def test_simulate_through_a_pseudo_terminal() -> None:
    child = pexpect.spawn(
        CALLBRIDGE,
        ["flows", "simulate", str(CARDS), "--clock", "2026-11-24T12:00:00+00:00"],
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    try:
        child.expect("Thank you for calling Example Bank card services.")
        child.expect("caller> ")
        child.sendline("I think someone stole my card")
        child.expect(r"intent lost_card \(")
        child.expect("what is your date of birth")
        child.expect("caller> ")
        child.sendline(".silence")
        child.expect("didn't hear anything")
        child.expect("caller> ")
        child.sendline("the 4th of July 1982")
        child.expect("dob='1982-07-04'")
        child.expect(r"last four digits.*\[sensitive\]")
        child.expect("caller> ")
        child.sendline("#4111#")
        child.expect(r"\[lookup POST http://crm.internal/cards/verify")
        child.expect("lookup result")
        child.sendline("not json")
        child.expect("type the JSON")
        child.sendline('{"verified": true, "status": "active"}')
        child.expect("block the card now")
        child.expect("caller> ")
        child.sendline(".state")
        child.expect(r'"card_last4": "\[sensitive\]"')
        child.sendline("agent")
        child.expect(r"\[transfer to cards\]")
        child.expect(r"transfer \(ok/failed\)> ")
        child.sendline("failed")
        child.expect("no one is free right now")
        child.expect(r"\[call ended\]")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_simulate_hangs_up_on_end_of_input() -> None:
    child = pexpect.spawn(
        CALLBRIDGE, ["flows", "simulate", str(CARDS)], encoding="utf-8", timeout=30
    )
    child.expect("caller> ")
    child.sendeof()
    child.expect(r"caller hung up")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_flows_test_prints_coverage_and_fails_on_a_broken_expectation(tmp_path: Path) -> None:
    ok = CliRunner().invoke(
        main, ["flows", "test", str(CARDS), str(APPTS), "--min-state-coverage", "100"]
    )
    assert ok.exit_code == 0, ok.output
    assert "card_services.test.yaml: 9/9 passed" in ok.output
    assert "states       20/20  100.0%" in ok.output
    assert "transitions" in ok.output

    flow = tmp_path / "cards.yaml"
    flow.write_text(CARDS.read_text())
    (tmp_path / "cards.test.yaml").write_text(
        "flow: cards.yaml\ntests:\n  - name: wrong\n    steps:\n"
        "      - dtmf: '0'\n      - expect: { state: menu }\n"
    )
    bad = CliRunner().invoke(main, ["flows", "test", str(flow)])
    assert bad.exit_code == 1
    assert "cards.test.yaml:6:9: wrong: expected state `menu`, the flow is in `to_agent`" in (
        bad.output
    )
    assert "never entered:" in bad.output
    low = CliRunner().invoke(main, ["flows", "test", str(flow), "--min-state-coverage", "90"])
    assert low.exit_code == 1


def test_graph_writes_svg_and_mermaid(tmp_path: Path) -> None:
    svg, mmd = tmp_path / "cards.svg", tmp_path / "cards.mmd"
    for out in (svg, mmd):
        result = CliRunner().invoke(main, ["flows", "graph", str(CARDS), "-o", str(out)])
        assert result.exit_code == 0, result.output
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    assert "ask_card" in svg.read_text() and "block_card" in svg.read_text()
    assert mmd.read_text().startswith("flowchart TD")
    bad = CliRunner().invoke(main, ["flows", "graph", str(CARDS), "-o", str(tmp_path / "x.png")])
    assert bad.exit_code != 0 and "use .svg, .dot, .mmd or .md" in bad.output
