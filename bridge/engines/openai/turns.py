"""What the model is told in each flow state, and what its function calls mean to the flow.

The flow stays in charge: the model never decides where the call goes by talking.
In an ``ask`` state it gets one function, ``answer``, whose parameters are the
intents and the slot the state expects, and must call it (the flow then speaks
its next prompt). In a ``converse`` state it talks freely within the state's
instructions, may call the flow tools the state allows, and leaves the state only
by calling one of the functions named after the state's exit intents.
Pure: no socket, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from bridge.engines.base import Decision, ToolCall
from flows.interpreter import CONFIRM_SLOT, Converse, Listen
from flows.model import Flow, SlotSpec
from flows.nlu.slots import parser_for

ANSWER = "answer"
BASE = (
    "You are the voice of a company's phone line. A call flow decides what happens; you "
    "speak and listen for it. Be brief and natural: this is a phone call."
)
SAY_EXACTLY = (
    "Say exactly the following to the caller, word for word, and nothing else. "
    "Do not call any function.\n\n{text}"
)


@dataclass(frozen=True)
class Turn:
    """The session settings of one caller turn."""

    instructions: str
    tools: list[dict[str, Any]]
    tool_choice: str
    turn_detection: str
    exits: frozenset[str]  # function names that are the flow's intents
    flow_tools: frozenset[str]


def persona(flow: Flow) -> str:
    return f"{BASE}\n\n{flow.realtime.instructions}" if flow.realtime.instructions else BASE


def ask_turn(flow: Flow, listen: Listen, today: date) -> Turn:
    params: dict[str, Any] = {}
    if listen.intents:
        params["intent"] = {
            "type": "string",
            "enum": list(listen.intents),
            "description": "What the caller wants, if it is one of these:\n"
            + "\n".join(_intent_line(flow, i) for i in listen.intents),
        }
    if listen.slot is not None:
        params[listen.slot] = _slot_schema(flow, listen, today)
    answer = {
        "type": "function",
        "name": ANSWER,
        "description": "Report the caller's answer. Leave out what they did not say.",
        "parameters": {"type": "object", "properties": params, "required": []},
    }
    instructions = (
        f"{persona(flow)}\n\nYour last message asked the caller a question. When they "
        f"answer, call `{ANSWER}` with what they said. Do not speak: the call flow says "
        "what comes next."
    )
    return Turn(
        instructions, [answer], "required", flow.realtime.turn_detection, frozenset(), frozenset()
    )


def converse_turn(flow: Flow, converse: Converse, listen: Listen) -> Turn:
    exits = tuple(dict.fromkeys([*listen.intents, *(h.intent for h in flow.global_)]))
    tools = [
        {
            "type": "function",
            "name": intent,
            "description": f"Call when {_intent_line(flow, intent)} The call flow takes over.",
            "parameters": {"type": "object", "properties": {}},
        }
        for intent in exits
    ]
    for name in converse.tools:
        spec = flow.tools[name]
        props = {
            p: {
                "type": t.type,
                **({"description": t.description} if t.description else {}),
                **({"enum": t.enum} if t.enum else {}),
            }
            for p, t in spec.parameters.items()
        }
        required = [p for p, t in spec.parameters.items() if t.required]
        tools.append(
            {
                "type": "function",
                "name": name,
                "description": spec.description,
                "parameters": {"type": "object", "properties": props, "required": required},
            }
        )
    state = flow.states[converse.state]
    turn = state.converse.turn_detection or flow.realtime.turn_detection
    leave = ", ".join(f"`{e}`" for e in exits)
    instructions = f"{persona(flow)}\n\n{converse.instructions}"
    if exits:
        instructions += f"\n\nWhen the caller wants what {leave} describes, call that function."
    return Turn(instructions, tools, "auto", turn, frozenset(exits), frozenset(converse.tools))


def read_call(
    turn: Turn,
    listen: Listen,
    flow: Flow,
    name: str,
    call_id: str,
    args: dict[str, Any],
    today: date,
) -> Decision | ToolCall | None:
    """A function call of the model, as the flow sees it; None for a name it was not given."""
    if name in turn.flow_tools:
        return ToolCall(call_id, name, args)
    if name in turn.exits:
        return Decision(name, {})
    if name != ANSWER or turn.exits:
        return None
    intent = args.get("intent")
    intent = intent if isinstance(intent, str) and intent in listen.intents else None
    slots: dict[str, Any] = {}
    if listen.slot is not None and listen.slot in args:
        value = slot_value(flow, listen, args[listen.slot], today)
        if value is not None:
            slots[listen.slot] = value
    return Decision(intent, slots)


def slot_value(flow: Flow, listen: Listen, raw: Any, today: date) -> Any:
    """The model's value in the form the flow's own parser gives (an ISO date, digits as
    a string, ...), or None when it does not fit the slot."""
    if listen.slot == CONFIRM_SLOT or listen.slot_type == "yes_no":
        return raw if isinstance(raw, bool) else None
    spec = flow.slots.get(listen.slot or "") or SlotSpec.model_validate(
        {"type": listen.slot_type or "text"}
    )
    if isinstance(raw, bool) or raw is None:
        return None
    if spec.type == "number" and isinstance(raw, int | float):
        return int(raw) if float(raw).is_integer() else raw
    if spec.type == "amount" and isinstance(raw, int | float):
        return round(float(raw), 2)
    return parser_for(spec, lambda: today)(str(raw))


def _slot_schema(flow: Flow, listen: Listen, today: date) -> dict[str, Any]:
    if listen.slot == CONFIRM_SLOT:
        return {"type": "boolean", "description": "Whether the caller confirmed (yes = true)."}
    spec = flow.slots.get(listen.slot or "") or SlotSpec()
    match spec.type:
        case "digits":
            n = f"exactly {spec.length} " if spec.length else ""
            return {"type": "string", "pattern": r"^[0-9]+$", "description": f"{n}digits"}
        case "number" | "amount":
            return {"type": "number"}
        case "date":
            return {"type": "string", "description": f"YYYY-MM-DD (today is {today.isoformat()})"}
        case "yes_no":
            return {"type": "boolean"}
        case "enum":
            return {"type": "string", "enum": spec.values}
    return {"type": "string", "description": "the caller's words"}


def _intent_line(flow: Flow, intent: str) -> str:
    spec = flow.intents.get(intent)
    if spec is None:
        return f"{intent}."
    examples = "e.g. " + "; ".join(f'"{e}"' for e in spec.examples[:3])
    if spec.description:  # what it means, and how callers say it
        return f"{intent}: {spec.description.rstrip('.')} ({examples})."
    return f"{intent}: {examples}"
