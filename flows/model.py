"""The flow language as typed models: what a valid flow file contains.

Each state is one kind, named by the key that carries its main content (``say``,
``ask``, ``converse``, ``lookup``, ``branch``, ``transfer``, ``hangup``). The JSON
Schema editors use is generated from these models (``callbridge flows schema``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
STATE_KINDS = (
    "say", "ask", "converse", "lookup", "branch", "transfer", "hangup", "call", "return",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Retry(_Strict):
    """No-input or no-match handling: escalating reprompts, then a way out."""

    max: int = Field(2, ge=0, le=10, description="Reprompts before giving up.")
    prompts: list[str] = Field(default_factory=list, description="Reprompts, in order.")
    timeout_ms: int | None = Field(None, ge=500, le=60_000, description="No-input only.")
    then: Name | None = Field(None, description="State to go to after the last reprompt.")


class Defaults(_Strict):
    no_input: Retry | None = None
    no_match: Retry | None = None


class SlotSpec(_Strict):
    type: Literal["text", "digits", "number", "date", "yes_no", "amount", "enum"] = "text"
    length: int | None = Field(None, ge=1, le=32, description="digits: exact count.")
    values: list[str] = Field(default_factory=list, description="enum: allowed values.")
    examples: list[str] = Field(default_factory=list)


class IntentSpec(_Strict):
    examples: list[str] = Field(min_length=1)
    description: str | None = Field(
        None,
        description="One line on what the caller wants; understood by meaning, like an example.",
    )
    slots: list[Name] = Field(
        default_factory=list,
        description='Slots a caller may already give with this request ("book for Friday '
        'morning"): filled from it, so the states that collect them are not asked.',
    )


class ToolParam(_Strict):
    type: Literal["string", "number", "integer", "boolean"] = "string"
    description: str | None = None
    enum: list[str] = Field(default_factory=list)
    required: bool = True


class ToolSpec(_Strict):
    """A function a realtime model may call in a converse state: an HTTP lookup whose
    ``url`` and ``body`` are templates over the call's variables and the model's
    arguments (``{args.order_id}``). The JSON answer goes back to the model."""

    description: str
    parameters: dict[Name, ToolParam] = Field(default_factory=dict)
    url: str
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = None
    timeout_ms: int = Field(3000, ge=100, le=30_000)


class RealtimeSpec(_Strict):
    """How a speech-to-speech engine (``CALLBRIDGE_ENGINE=openai``) runs this flow."""

    instructions: str | None = Field(
        None, description="Who the bot is, for every state (e.g. the company and the tone)."
    )
    voice: str | None = None
    turn_detection: TurnDetection = Field(
        "endpointer",
        description="endpointer: our own VAD ends turns (manual commit); server_vad or "
        "semantic_vad: the model's.",
    )


class VariableSpec(_Strict):
    type: Literal["string", "number", "boolean"] = "string"
    default: str | float | bool | None = None


class GlobalHandler(_Strict):
    """Applies in every waiting state, e.g. "agent" anywhere goes to a transfer."""

    intent: Name
    goto: Name | None = None
    action: Literal["repeat"] | None = None


class DtmfSpec(_Strict):
    max_digits: int = Field(1, ge=1, le=32)
    terminator: Literal["#", "*"] | None = None


class _State(_Strict):
    description: str | None = None
    set: dict[Name, str | float | bool] = Field(
        default_factory=dict,
        description="Variables set on entering the state; strings are templates.",
    )
    sensitive: bool = Field(
        False,
        description="Nothing said or keyed here is recorded, transcribed in clear, "
        "sent to a model or shown to an agent.",
    )


class SayState(_State):
    say: str
    next: Name | None = None


class Validation(_Strict):
    """A condition the collected value must meet, e.g. ``dob < "2010-01-01"``."""

    if_: str = Field(alias="if")
    prompt: str = Field(description="Said when the value fails the check; then it is asked again.")


class AskState(_State):
    ask: str
    intents: list[Name] = Field(default_factory=list, description="Intents that answer.")
    collect: Name | None = Field(None, description="Slot the answer fills.")
    dtmf: DtmfSpec | None = None
    validate_: Validation | None = Field(None, alias="validate")
    confirm: str | None = Field(None, description="Read the answer back; yes/no follows.")
    on: dict[str, Name] = Field(default_factory=dict, description="Intent or key → state.")
    next: Name | None = Field(None, description="After the slot is collected.")
    no_input: Retry | None = None
    no_match: Retry | None = None


TurnDetection = Literal["endpointer", "server_vad", "semantic_vad"]


class ConverseSpec(_Strict):
    instructions: str
    tools: list[Name] = Field(
        default_factory=list, description="Names from the flow's `tools` the model may call."
    )
    max_turns: int = Field(8, ge=1, le=50)
    turn_detection: TurnDetection | None = Field(
        None, description="Who ends the caller's turn here; default the flow's `realtime`."
    )


class ConverseState(_State):
    converse: ConverseSpec
    on: dict[Name, Name] = Field(default_factory=dict, description="Intent that leaves → state.")
    next: Name | None = Field(None, description="After max_turns.")
    no_input: Retry | None = None


class LookupSpec(_Strict):
    url: str
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = None
    timeout_ms: int = Field(3000, ge=100, le=30_000)
    result: Name = Field(description="Variable the JSON response is stored in.")


class LookupState(_State):
    lookup: LookupSpec
    next: Name
    on_error: Name


class Hours(_Strict):
    timezone: str = "UTC"
    open: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], str] = Field(
        description='Per weekday, "09:00-17:00".'
    )
    closed_dates: list[str] = Field(default_factory=list, description="YYYY-MM-DD holidays.")


class Case(_Strict):
    if_: str | None = Field(None, alias="if", description='A condition: card.status == "lost"')
    open: Hours | None = Field(None, description="True while within business hours.")
    goto: Name


class BranchState(_State):
    branch: list[Case] = Field(min_length=1)
    else_: Name = Field(alias="else")


class TransferTarget(_Strict):
    queue: str | None = None
    sip: str | None = None
    number: str | None = None


class TransferState(_State):
    say: str | None = None
    transfer: TransferTarget
    on_fail: Name | None = None


class HangupState(_State):
    hangup: str | bool = Field(description="A goodbye prompt, or true to end at once.")


class CallState(_State):
    """Run a sub-flow: go to ``call`` and come back to ``next`` at its ``return`` state."""

    call: Name = Field(description="The sub-flow's first state.")
    next: Name = Field(description="Where the call continues after the sub-flow returns.")


class ReturnState(_State):
    """End of a sub-flow: continue at the ``next`` of the state that called it."""

    return_: Literal[True] = Field(alias="return")


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for kind in STATE_KINDS[1:]:  # "say" last: transfer states may also have a say
            if kind in value:
                return kind
        if "say" in value:
            return "say"
    return None


State = Annotated[
    Annotated[SayState, Tag("say")]
    | Annotated[AskState, Tag("ask")]
    | Annotated[ConverseState, Tag("converse")]
    | Annotated[LookupState, Tag("lookup")]
    | Annotated[BranchState, Tag("branch")]
    | Annotated[TransferState, Tag("transfer")]
    | Annotated[HangupState, Tag("hangup")]
    | Annotated[CallState, Tag("call")]
    | Annotated[ReturnState, Tag("return")],
    Discriminator(
        _kind,
        custom_error_type="state_kind",
        custom_error_message="a state needs one of: " + ", ".join(STATE_KINDS),
    ),
]


class Flow(_Strict):
    flow: Name = Field(description="The flow's name.")
    version: int = Field(1, ge=1)
    description: str | None = None
    locale: Literal["en-GB", "en-US"] = Field(
        "en-GB",
        description="How callers say dates here: the order a spoken date is understood in "
        'and read back in ("the first of December" or "December first").',
    )
    start: Name
    variables: dict[Name, VariableSpec] = Field(default_factory=dict)
    slots: dict[Name, SlotSpec] = Field(default_factory=dict)
    intents: dict[Name, IntentSpec] = Field(default_factory=dict)
    tools: dict[Name, ToolSpec] = Field(default_factory=dict)
    realtime: RealtimeSpec = Field(default_factory=RealtimeSpec)
    global_: list[GlobalHandler] = Field(default_factory=list, alias="global")
    defaults: Defaults = Field(default_factory=Defaults)
    fallback: Name | None = Field(
        None,
        description="Transfer or hangup state a call goes to when its speech engine fails; "
        "without it the call ends after the fallback prompt.",
    )
    states: dict[Name, State] = Field(min_length=1)

    def sensitive_slots(self) -> set[str]:
        """Slots some sensitive state collects: never shown, logged or sent in clear."""
        return {
            s.collect
            for s in self.states.values()
            if isinstance(s, AskState) and s.sensitive and s.collect
        }


WAITING = (AskState, ConverseState)


def json_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "callbridge call flow"
    return schema
