"""``callbridge call``: one call of a flow from the terminal, with a synthetic caller."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bridge.cli.options import load_flow_or_exit, load_settings
from bridge.events.schema import Envelope

if TYPE_CHECKING:
    from flows.model import Flow


@click.command("call")
@click.option(
    "--flow",
    "flow_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Flow to call (default: CALLBRIDGE_DEFAULT_FLOW).",
)
@click.option(
    "--say",
    "lines",
    multiple=True,
    help="A caller line, in order. `#123#` keys DTMF, `.silence` stays quiet "
    "(a no-input), `.hangup` hangs up.",
)
@click.option(
    "--wav",
    "wavs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A recorded caller line (any rate, mono), after the --say lines.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the bot's side as a WAV.")
@click.option(
    "--record",
    type=click.Path(dir_okay=False),
    help="Write both sides as a stereo WAV (caller left, bot right).",
)
@click.option(
    "--lookups",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML or JSON: lookup URL → the JSON it answers (else real HTTP).",
)
@click.option("--transfer", type=click.Choice(["ok", "failed"]), default="ok", show_default=True)
@click.option(
    "--engine",
    type=click.Choice(["local", "openai"]),
    help="Speech engine (default: CALLBRIDGE_ENGINE / CALLBRIDGE_FLOW_ENGINES, else local).",
)
@click.option("--realtime", is_flag=True, help="Pace the call like a phone (default: fast).")
@click.option(
    "--sip",
    "sip_uri",
    metavar="URI",
    help="Call this SIP URI instead (e.g. sip:+441234@pbx.example.com): whoever answers "
    "talks to the flow; --say/--wav/--out do not apply.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON lines.")
def call(
    flow_file: str | None,
    lines: tuple[str, ...],
    wavs: tuple[str, ...],
    out: str | None,
    record: str | None,
    lookups: str | None,
    transfer: str,
    engine: str | None,
    realtime: bool,
    sip_uri: str | None,
    as_json: bool,
) -> None:
    """Call a flow with synthesised caller lines and print the transcript and flow path.

    Example: callbridge call --flow flows/examples/card_services.yaml
    --say "what is my balance" --say "the fourth of July nineteen eighty two"
    --say "#4111#" --lookups lookups.yaml --out bot.wav
    """
    settings = load_settings(engine=engine)
    path = flow_file or str(settings.default_flow)
    flow = load_flow_or_exit(path)
    events: list[Envelope] = []

    def show(ev: Envelope) -> None:
        events.append(ev)
        if as_json:
            click.echo(ev.model_dump_json())
        elif ev.type not in QUIET:
            click.echo(_line(ev))

    if sip_uri:
        settings = settings.model_copy(update={"default_flow": Path(path)})
        _call_sip(settings, sip_uri, show, as_json)
        return
    recorded = _recorded(wavs)
    answers = _lookup_answers(lookups)
    speech = _speech_engine(settings, flow)
    transfer_ok = transfer == "ok"
    run = _run(
        flow, speech, lines, recorded, answers, transfer_ok, realtime, record, show, settings
    )
    rt, leg = asyncio.run(run)
    if out:
        from bridge.store.wav_files import write_wav
        from media.format import HOUSE_RATE

        write_wav(Path(out), leg.bot_pcm, HOUSE_RATE)
    if not as_json:
        _summary(rt)


def _call_sip(settings: Any, sip_uri: str, show: Callable[[Envelope], None], as_json: bool) -> None:
    from bridge.legs.sip import call_out

    rt = asyncio.run(call_out(settings, sip_uri, show))
    if rt is None:
        click.echo("nobody answered", err=True)
        raise SystemExit(1)
    if not as_json:
        _summary(rt)


def _speech_engine(settings: Any, flow: Flow) -> Any:
    from bridge.engines.registry import engine_for

    try:
        return engine_for(settings, flow.flow)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _recorded(wavs: tuple[str, ...]) -> list[Any]:
    """Each recorded caller line as house-rate PCM (the first channel of a stereo file)."""
    from bridge.store.wav_files import load_wav
    from media.format import HOUSE_RATE
    from media.resample import resample_signal

    recorded = []
    for wav in wavs:
        pcm, rate = load_wav(Path(wav))
        recorded.append(resample_signal(pcm if pcm.ndim == 1 else pcm[:, 0], rate, HOUSE_RATE))
    return recorded


def _lookup_answers(lookups: str | None) -> dict[str, Any] | None:
    """The canned lookup answers of ``--lookups``; None: real HTTP."""
    if not lookups:
        return None
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(Path(lookups).read_text()) or {}


def _summary(rt: Any) -> None:
    click.echo(f"path: {' → '.join(rt.result.path)}")
    click.echo(f"ended: {rt.result.reason} ({rt.result.outcome})")


# Events for machines, not for a person watching a call: the --json output has them.
QUIET = frozenset({"flow.snapshot"})


def _line(ev: Envelope) -> str:
    data: dict[str, Any] = ev.model_dump(exclude={"call_id", "seq", "ts", "v", "type"})
    match ev.type:
        case "transcript.final":
            cut = " [interrupted]" if data.get("interrupted") else ""
            return f"{data['speaker']:>6}: {data['text']}{cut}"
        case "flow.state_entered":
            return f"        → {data['state']}"
        case "flow.intent":
            return (
                f"        (intent {data['intent']} {data['confidence']:.2f} {data['slots'] or ''})"
            )
    return f"        [{ev.type} {json.dumps(data, default=str)}]"


async def _run(
    flow: Any,
    engine: Any,
    lines: tuple[str, ...],
    recorded: list[Any],
    answers: dict[str, Any] | None,
    transfer_ok: bool,
    realtime: bool,
    record: str | None,
    emit: Any,
    settings: Any,
) -> tuple[Any, Any]:
    from bridge.conversation.lookups import HttpLookup, StaticLookup
    from bridge.engines.local.tts import Synthesizer
    from bridge.engines.registry import fallback_for
    from bridge.legs.virtual import HangUp, Keys, Silence, Speak, Step, VirtualLeg, run_call
    from media.line import phone_line

    caller_voice = Synthesizer(speed=0.92).say  # a slightly slower voice than the bot's
    script: list[Step] = []
    for text in lines:
        if text.startswith("#"):
            script.append(Keys(text[1:].replace(" ", "")))
        elif text == ".silence":
            script.append(Silence(10_000))
        elif text == ".hangup":
            script.append(HangUp())
        else:
            pcm = await asyncio.to_thread(caller_voice, text)
            script.append(Speak(phone_line(pcm), text))
    script += [Speak(phone_line(pcm), "recording") for pcm in recorded]
    lookup: Any = (
        StaticLookup(answers) if answers is not None else HttpLookup(settings.lookup_hosts)
    )
    leg = VirtualLeg(
        script, realtime=realtime, transfer_ok=transfer_ok, record=Path(record) if record else None
    )
    runtime = await run_call(
        flow, engine, leg, emit=emit, lookup=lookup, fallback_engine=fallback_for(settings, engine)
    )
    return runtime, leg
