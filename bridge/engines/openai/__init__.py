"""The openai engine: each flow state a speech-to-speech turn of OpenAI's Realtime API.

``CALLBRIDGE_ENGINE=openai`` and ``CALLBRIDGE_OPENAI_API_KEY`` (the key is only read
from settings and never logged); ``CALLBRIDGE_OPENAI_REALTIME_URL`` points it
elsewhere (a proxy, or the fake server the tests run).
"""

from __future__ import annotations

import threading
from typing import Any

from bridge.engines.base import EngineSession, SpeechEngine
from bridge.engines.openai.protocol import PRICES
from bridge.engines.openai.session import Config, RealtimeSession
from bridge.settings import Settings
from flows.model import WAITING, Flow


class OpenAIEngine(SpeechEngine):
    name = "openai"

    def __init__(self, settings: Settings, local: SpeechEngine | None = None) -> None:
        key = settings.openai.api_key.get_secret_value() if settings.openai.api_key else ""
        if not key:
            raise ValueError("the openai engine needs CALLBRIDGE_OPENAI_API_KEY")
        self.config = Config(
            url=settings.openai.realtime_url,
            api_key=key,
            model=settings.openai.model,
            voice=settings.openai.voice,
            transcription_model=settings.openai.transcription_model or None,
            connect_timeout_s=settings.openai.connect_timeout_s,
            reconnect_s=settings.openai.reconnect_s,
            prices={**PRICES, **settings.openai.prices},
        )
        self._local = local  # hears and speaks sensitive states; made when first needed
        self._voice: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"OpenAIEngine(url={self.config.url!r}, model={self.config.model!r})"

    def local(self) -> SpeechEngine:
        if self._local is None:
            from bridge.engines.local.engine import LocalEngine

            self._local = LocalEngine()
        return self._local

    def fallback_voice(self, text: str) -> Any:
        with self._lock:
            if self._voice is None:
                from bridge.engines.local.tts import Synthesizer

                self._voice = Synthesizer()
        return self._voice.say(text)

    async def open(self, call_id: str, flow: Flow, line: str | None = None) -> EngineSession:
        private = any(isinstance(s, WAITING) and s.sensitive for s in flow.states.values())
        local = await self.local().open(call_id, flow) if private else None
        return RealtimeSession(self.config, call_id, flow, line, local, self.fallback_voice)
