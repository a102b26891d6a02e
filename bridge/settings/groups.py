"""The settings of one part of the bridge each, nested under :class:`Settings`:
``sip.port`` is ``CALLBRIDGE_SIP__PORT`` in the environment and ``[sip] port`` in TOML
(the flat names of earlier releases, ``CALLBRIDGE_SIP_PORT`` / ``sip_port``, still
work: :mod:`bridge.settings.flat_names`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class SipSettings(Group):
    port: int = Field(
        5060, ge=0, le=65535, description="The public SIP port (UDP); 0 turns SIP off."
    )
    bind: str = Field("0.0.0.0", description="Address the SIP agent binds to.")
    public_address: str = Field(
        "", description="Address put in Contact and SDP when the bridge is behind NAT."
    )
    allowed_sources: list[str] = Field(
        default_factory=list,
        description="IP-trunk mode: networks INVITEs are accepted from (403 for others); "
        'empty accepts any, e.g. ["203.0.113.0/24"]. With number_flows set, SIP answers '
        "only those numbers (404 for others).",
    )
    registrar: str = Field(
        "",
        description="Registration mode: the registrar's SIP URI, e.g. sip:pbx.example.com "
        "(unset: IP-trunk mode, no registration).",
    )
    user: str = Field("callbridge", description="The SIP user (and digest username).")
    password: SecretStr | None = Field(None, description="Digest password for the registrar.")
    rtp_timeout_s: float = Field(
        30.0, gt=0, description="A SIP peer that sends no RTP this long is hung up."
    )
    rtp_port: int = Field(
        4000, ge=1024, le=65000, description="First local RTP port of the SIP agent."
    )
    media_nice: int = Field(
        -10,
        ge=-20,
        le=0,
        description="Nice value of pjmedia's clock and media threads (best effort: needs "
        "root or CAP_SYS_NICE); 0 leaves them at the process's priority.",
    )
    workers: int = Field(
        0,
        ge=0,
        le=500,
        description="SIP worker processes behind Kamailio on the public SIP port (each "
        "answers 3 calls: pjsua2's limit); 0: this process is the one SIP agent.",
    )
    worker_base_port: int = Field(
        0, ge=0, le=65535, description="The first worker's SIP port (0: the public port + 1)."
    )
    worker_bind: str = Field(
        "127.0.0.1", description="Address the SIP workers bind to (Kamailio reaches them there)."
    )
    remote_workers: list[str] = Field(
        default_factory=list,
        description="SIP workers on other machines (`callbridge sip-worker`) that Kamailio "
        'dispatches to as well, e.g. ["sip:10.0.0.6:5070"].',
    )
    transfer: Literal["bridged", "refer"] = Field(
        "bridged",
        description="How SIP calls reach a person: bridged (the bridge dials the agent and "
        "stays in the media path, so transcripts go on) or refer (a blind REFER).",
    )


class TwilioSettings(Group):
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    api_url: str = Field(
        "https://api.twilio.com", description="Twilio's REST API (a test server in tests)."
    )


class VonageSettings(Group):
    application_id: str | None = None
    private_key: SecretStr | None = Field(
        None, description="The application's private key: PEM text or a file path."
    )
    signature_secret: SecretStr | None = None
    api_host: str = Field("api.nexmo.com", description="Vonage's REST host.")


class OpenAISettings(Group):
    api_key: SecretStr | None = Field(
        None, description="API key for the openai engine (never logged or shown)."
    )
    realtime_url: str = Field(
        "wss://api.openai.com/v1/realtime",
        description="The Realtime API's WebSocket endpoint (a proxy or a test server).",
    )
    model: str = "gpt-realtime"
    voice: str = Field("marin", description="Default voice; a flow's `realtime.voice` wins.")
    transcription_model: str = "gpt-4o-mini-transcribe"
    connect_timeout_s: float = Field(
        2.0, gt=0, le=60, description="A caller hears nothing while it runs: keep it short."
    )
    reconnect_s: float = Field(
        1.5, ge=0, le=30, description="How long a dropped session is retried before falling back."
    )
    prices: dict[str, float] = Field(
        default_factory=dict,
        description="US dollars per million tokens, overriding the list prices: "
        "input_audio_tokens, input_text_tokens, cached_tokens, output_audio_tokens, "
        "output_text_tokens.",
    )
    fallback: Literal["local", "flow"] = Field(
        "local",
        description="When the service stays away: go on with the local engine, or take the "
        "flow's own fallback (its transfer, else hang up).",
    )


class EventSettings(Group):
    stream: str = "callbridge:events"
    # Approximate cap on the stream length: Redis trims beyond it (retention, not acks).
    stream_maxlen: int = Field(1_000_000, ge=1000)
    # Events kept in memory while Redis is unreachable; past this they are refused loudly.
    buffer_max: int = Field(200_000, ge=100)


class StoreWriterSettings(Group):
    enabled: bool = True
    batch: int = Field(500, ge=1, le=10_000)
    max_lag_s: float = Field(
        30.0, gt=0, description="Behind by more than this, /readyz reports the store writer."
    )


GROUPS: dict[str, tuple[str, type[Group]]] = {
    # group field: (the prefix its settings had when they were flat, its model)
    "sip": ("sip_", SipSettings),
    "twilio": ("twilio_", TwilioSettings),
    "vonage": ("vonage_", VonageSettings),
    "openai": ("openai_", OpenAISettings),
    "events": ("event_", EventSettings),
    "store_writer": ("store_writer_", StoreWriterSettings),
}
