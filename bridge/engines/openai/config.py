"""What one openai engine is told: where the service is, which model and voice."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.engines.openai import protocol as p


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str
    model: str
    voice: str
    transcription_model: str | None
    connect_timeout_s: float
    reconnect_s: float
    prices: dict[str, float] = field(default_factory=lambda: dict(p.PRICES))
