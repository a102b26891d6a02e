"""What the model is told per state, and what its function calls mean to the flow."""

from __future__ import annotations

from datetime import date

from bridge.engines.base import Decision, ToolCall
from bridge.engines.openai.turns import ANSWER, ask_turn, converse_turn, read_call, slot_value
from flows.interpreter import CONFIRM_SLOT, Converse, Interpreter, Listen
from tests.bridge.conversation.calls import CARDS
from tests.bridge.engines.openai.conftest import HELP_DESK

TODAY = date(2026, 12, 1)


def test_an_ask_state_gets_one_answer_function_it_must_call() -> None:
    listen = Listen("menu", ("balance", "lost_card", "agent"))
    turn = ask_turn(CARDS, listen, TODAY)
    [answer] = turn.tools
    assert answer["name"] == ANSWER and turn.tool_choice == "required"
    intent = answer["parameters"]["properties"]["intent"]
    assert intent["enum"] == ["balance", "lost_card", "agent"]
    assert '"my card was stolen"' in intent["description"]  # the flow's examples guide it
    assert turn.turn_detection == "endpointer"


def test_slot_parameters_follow_the_slot_type() -> None:
    dob = ask_turn(CARDS, Listen("ask_dob", (), "dob", "date"), TODAY).tools[0]
    assert "2026-12-01" in dob["parameters"]["properties"]["dob"]["description"]
    confirm = ask_turn(CARDS, Listen("block_card", (), CONFIRM_SLOT, "yes_no"), TODAY).tools[0]
    assert confirm["parameters"]["properties"][CONFIRM_SLOT]["type"] == "boolean"


def test_answers_become_what_the_flows_own_parsers_give() -> None:
    dob = Listen("ask_dob", (), "dob", "date")
    assert slot_value(CARDS, dob, "1982-07-04", TODAY) == "1982-07-04"
    assert slot_value(CARDS, dob, "the fourth of July 1982", TODAY) == "1982-07-04"
    assert slot_value(CARDS, dob, True, TODAY) is None
    card = Listen("ask_card", (), "card_last4", "digits")
    assert slot_value(CARDS, card, "4 1 1 1", TODAY) == "4111"
    assert slot_value(CARDS, card, "12345", TODAY) is None  # the slot wants four
    yes = Listen("block_card", (), CONFIRM_SLOT, "yes_no")
    assert slot_value(CARDS, yes, True, TODAY) is True
    assert slot_value(CARDS, yes, "yes", TODAY) is None


def test_reading_the_models_calls() -> None:
    listen = Listen("menu", ("balance", "agent"))
    turn = ask_turn(CARDS, listen, TODAY)
    got = read_call(turn, listen, CARDS, ANSWER, "c1", {"intent": "balance"}, TODAY)
    assert got == Decision("balance", {})
    odd = read_call(turn, listen, CARDS, ANSWER, "c1", {"intent": "hack"}, TODAY)
    assert odd == Decision(None, {})  # an intent it was not offered: a no-match
    assert read_call(turn, listen, CARDS, "transfer_money", "c1", {}, TODAY) is None


def test_a_converse_state_leaves_only_through_its_intents() -> None:
    listen = Listen("orders", ("done",))
    action = Converse("orders", "Help with the order.", ("order_status",))
    turn = converse_turn(HELP_DESK, action, listen)
    names = [t["name"] for t in turn.tools]
    assert names == ["done", "agent", "order_status"]  # its exit, the global, its tool
    assert turn.tool_choice == "auto" and "Example Shop" in turn.instructions
    tool = turn.tools[2]["parameters"]
    assert tool["required"] == ["order_id"] and tool["properties"]["order_id"]["type"] == "string"
    assert read_call(turn, listen, HELP_DESK, "done", "c", {}, TODAY) == Decision("done", {})
    got = read_call(turn, listen, HELP_DESK, "order_status", "c7", {"order_id": "A1"}, TODAY)
    assert got == ToolCall("c7", "order_status", {"order_id": "A1"})
    assert read_call(turn, listen, HELP_DESK, ANSWER, "c", {}, TODAY) is None


def test_a_tools_url_quotes_the_models_words() -> None:
    interp = Interpreter(HELP_DESK)
    req = interp.tool_request("order_status", {"order_id": "A12/../../admin?x=1"})
    assert req.url == "http://shop.internal/orders/A12%2F..%2F..%2Fadmin%3Fx%3D1"
    assert req.method == "GET"
