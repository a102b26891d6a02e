from __future__ import annotations

from pathlib import Path

from flows.graph import dot, labelled_edges, mermaid
from flows.loader import load

CARDS = load(Path(__file__).resolve().parents[2] / "flows" / "examples" / "card_services.yaml")


def test_every_state_and_edge_is_drawn() -> None:
    text = mermaid(CARDS)
    assert text.startswith("flowchart TD")
    for name in CARDS.states:
        assert f"\n  {name}" in text
    assert '  menu -->|"lost_card"| for_lost_card' in text
    assert '  for_balance -->|"after return"| verify' in text
    assert '_anywhere -.->|"agent"| to_agent' in text
    assert 'ask_card[/"ask_card 🔒' in text  # sensitive states are marked


def test_dot_quotes_conditions() -> None:
    text = dot(CARDS)
    assert '"route" -> "already_blocked" [label="card.status == \\"blocked\\""];' in text
    assert text.count(" -> ") == len(list(labelled_edges(CARDS))) + 1  # + the start arrow
