"""The flow interpreter's actions carried out on the call.

An event for the flow (what the caller said or keyed, a no-input, a lookup's or a
transfer's result) goes through :meth:`FlowActions.handle`; the actions it returns
are executed: prompts to the bot's side, a listen opens the caller's turn, lookups
run in the background, a transfer or hang-up waits until the bot has finished
speaking. Each time the flow comes to rest in a new state a
:class:`~bridge.events.schema.FlowSnapshot` says where it stands (sensitive values
masked), so the call can be resumed from it.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.conversation.bot import BotSide
from bridge.conversation.context import CallContext, LegControl
from bridge.conversation.continuation import Taken
from bridge.conversation.floor import Floor
from bridge.conversation.lookups import LookupFn
from bridge.events.schema import FlowSnapshot, StateEntered, TransferEvent
from flows import interpreter as fi

End = Callable[[str, str], None]  # reason, outcome


class FlowActions:
    def __init__(
        self,
        ctx: CallContext,
        floor: Floor,
        bot: BotSide,
        control: LegControl,
        lookup: LookupFn,
        end: End,
    ) -> None:
        self.ctx, self.floor, self.bot = ctx, floor, bot
        self.control, self.lookup, self._end = control, lookup, end

    def handle(self, event: fi.Event) -> list[fi.Action]:
        """``event`` to the flow, and its actions carried out; returns them."""
        self.floor.continuation.forget()
        if self.ctx.ended.is_set() or self.ctx.failing:
            return []
        self.floor.listen = None
        actions = self.ctx.interp.handle(event)
        self.execute(actions)
        return actions

    def execute(self, actions: list[fi.Action]) -> None:
        ctx = self.ctx
        for action in actions:
            match action:
                case fi.StateEntered(state):
                    ctx.result.path.append(state)
                    ctx.emit(StateEntered, flow=ctx.flow.flow, state=state)
                case fi.Say(text, sensitive):
                    if not ctx.failing:
                        self.bot.say(text, sensitive)
                case fi.Listen():
                    self.floor.open_turn(action)
                case fi.Converse():
                    ctx.session.converse(action)  # a model converses; the local engine
                    # listens for the exits
                case fi.Lookup():
                    ctx.spawn(self._lookup(action))
                case fi.Transfer():
                    self.bot.after_speech.append(lambda a=action: ctx.spawn(self._transfer(a)))
                case fi.Hangup():
                    self.hang_up_when_quiet()
                case fi.SetVariables():
                    pass
        if any(isinstance(a, fi.StateEntered) for a in actions):
            self._snapshot()
        if (
            ctx.interp.ended
            and not self.bot.after_speech
            and not any(isinstance(a, fi.Transfer | fi.Hangup) for a in actions)
        ):
            self._end("flow_ended", "completed")

    def restore(self, taken: Taken) -> None:
        """The flow as it stood before the caller's turn ``taken`` (a step back)."""
        ctx = self.ctx
        ctx.interp.snap = self.floor.continuation.step_back(taken)
        del ctx.result.path[taken.path_len :]
        ctx.emit(StateEntered, flow=ctx.flow.flow, state=ctx.interp.state)
        self._snapshot()

    def _snapshot(self) -> None:
        """Where the flow rests now; one per move, however many states it passed."""
        interp = self.ctx.interp
        self.ctx.emit(FlowSnapshot, state=interp.state, snapshot=interp.persistable())

    def hang_up_when_quiet(self) -> None:
        """Hang up once the bot has said what it has to say."""
        self.bot.after_speech.append(lambda: self.ctx.spawn(self._hangup()))

    async def _lookup(self, req: fi.Lookup) -> None:
        result = await self.lookup(req)
        self.handle(result)

    async def _transfer(self, req: fi.Transfer) -> None:
        ctx = self.ctx
        target = req.queue or req.sip or req.number or ""
        ctx.emit(TransferEvent, target=target, status="requested")
        ok = await self.control.transfer(req)
        ctx.emit(TransferEvent, target=target, status="connected" if ok else "failed")
        if not ok and ctx.failing:  # the fallback transfer failed too: end cleanly
            await self.control.hangup()
            self._end(ctx.result.reason, "failed")
            return
        if ok:
            ctx.interp.handle(fi.TransferResult(True))
            ctx.bridged = True  # the caller talks to a person; we keep transcribing
            self.floor.open_turn(fi.Listen("_bridged", slot_type="text"))
            return
        self.handle(fi.TransferResult(False))

    async def _hangup(self) -> None:
        await self.control.hangup()
        outcome = "failed" if self.ctx.failing else "completed"
        self._end(self.ctx.result.reason or "flow_hangup", outcome)
