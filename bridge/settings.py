"""One typed settings object for the whole bridge.

Values come, highest priority first, from keyword arguments, ``CALLBRIDGE_*``
environment variables, a ``.env`` file, and an optional TOML file named by
``CALLBRIDGE_CONFIG_FILE``. Secrets are :class:`~pydantic.SecretStr` so they never
reach a log line or ``callbridge config show`` in clear.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, StringConstraints, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "CALLBRIDGE_"
# A built-in engine's name, or a plug-in's import path (``package.module:Class``).
EngineName = Annotated[
    str, StringConstraints(pattern=r"^(local|openai|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
]
CONFIG_FILE_ENV = ENV_PREFIX + "CONFIG_FILE"
EXAMPLE_FLOW = Path(__file__).resolve().parent.parent / "flows" / "examples" / "card_services.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="forbid",
        validate_default=True,
    )

    # Where the bridge writes everything: SQLite file, embedded Redis, recordings.
    data_dir: Path = Path("data")
    # Unset means embedded: an SQLite file / a Redis server the bridge runs itself.
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None

    # Names this process to its peers (consumer names, metrics); unique per process.
    instance_id: str = Field(default_factory=socket.gethostname, min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Calls in flight get this long to finish after SIGTERM before the process exits.
    drain_timeout_s: float = Field(30.0, ge=0)

    default_flow: Path = EXAMPLE_FLOW

    # Event log.
    event_stream: str = "callbridge:events"
    # Approximate cap on the stream length: Redis trims beyond it (retention, not acks).
    event_stream_maxlen: int = Field(1_000_000, ge=1000)
    # Events kept in memory while Redis is unreachable; past this they are refused loudly.
    event_buffer_max: int = Field(200_000, ge=100)
    store_writer_enabled: bool = True
    # Apply database migrations when the bridge starts (turn off where a deploy step does it).
    auto_migrate: bool = True
    store_writer_batch: int = Field(500, ge=1, le=10_000)
    store_writer_max_lag_s: float = Field(
        30.0, gt=0, description="Behind by more than this, /readyz reports the store writer."
    )
    number_flows: dict[str, Path] = Field(
        default_factory=dict,
        description='Which flow answers which dialled number: {"+441234567890": "flows/x.yaml"}; '
        "other numbers get default_flow.",
    )
    sip_port: int = Field(
        5060, ge=0, le=65535, description="The public SIP port (UDP); 0 turns SIP off."
    )
    sip_bind: str = Field("0.0.0.0", description="Address the SIP agent binds to.")
    sip_public_address: str = Field(
        "", description="Address put in Contact and SDP when the bridge is behind NAT."
    )
    sip_allowed_sources: list[str] = Field(
        default_factory=list,
        description="IP-trunk mode: networks INVITEs are accepted from (403 for others); "
        'empty accepts any, e.g. ["203.0.113.0/24"]. With number_flows set, SIP answers '
        "only those numbers (404 for others).",
    )
    sip_registrar: str = Field(
        "",
        description="Registration mode: the registrar's SIP URI, e.g. sip:pbx.example.com "
        "(unset: IP-trunk mode, no registration).",
    )
    sip_user: str = Field("callbridge", description="The SIP user (and digest username).")
    sip_password: SecretStr | None = Field(None, description="Digest password for the registrar.")
    sip_rtp_timeout_s: float = Field(
        30.0, gt=0, description="A SIP peer that sends no RTP this long is hung up."
    )
    sip_rtp_port: int = Field(
        4000, ge=1024, le=65000, description="First local RTP port of the SIP agent."
    )
    sip_media_nice: int = Field(
        -10,
        ge=-20,
        le=0,
        description="Nice value of pjmedia's clock and media threads (best effort: needs "
        "root or CAP_SYS_NICE); 0 leaves them at the process's priority.",
    )
    sip_workers: int = Field(
        0,
        ge=0,
        le=500,
        description="SIP worker processes behind Kamailio on the public SIP port (each "
        "answers 3 calls: pjsua2's limit); 0: this process is the one SIP agent.",
    )
    sip_worker_base_port: int = Field(
        0, ge=0, le=65535, description="The first worker's SIP port (0: the public port + 1)."
    )
    sip_worker_bind: str = Field(
        "127.0.0.1", description="Address the SIP workers bind to (Kamailio reaches them there)."
    )
    sip_remote_workers: list[str] = Field(
        default_factory=list,
        description="SIP workers on other machines (`callbridge sip-worker`) that Kamailio "
        'dispatches to as well, e.g. ["sip:10.0.0.6:5070"].',
    )
    kamailio_binary: str = Field("kamailio", description="Kamailio, for --sip-workers.")
    sip_transfer: Literal["bridged", "refer"] = Field(
        "bridged",
        description="How SIP calls reach a person: bridged (the bridge dials the agent and "
        "stays in the media path, so transcripts go on) or refer (a blind REFER).",
    )
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_url: str = Field(
        "https://api.twilio.com", description="Twilio's REST API (a test server in tests)."
    )
    vonage_application_id: str | None = None
    vonage_private_key: SecretStr | None = Field(
        None, description="The application's private key: PEM text or a file path."
    )
    vonage_signature_secret: SecretStr | None = None
    vonage_api_host: str = Field("api.nexmo.com", description="Vonage's REST host.")
    queue_targets: dict[str, str] = Field(
        default_factory=dict,
        description="For carriers without queues (Vonage, SIP): a flow's transfer queue → the "
        'number or SIP URI that reaches it, {"cards": "+441234567000"}.',
    )
    engine: EngineName = Field(
        "local",
        description="Speech engine for calls: local (offline, the default), openai (the "
        "Realtime API, speech to speech), or a plug-in as module:Class (a SpeechEngine "
        "subclass).",
    )
    flow_engines: dict[str, EngineName] = Field(
        default_factory=dict, description="Per flow name, an engine other than `engine`."
    )
    recordings: bool = Field(
        True,
        description="Record each call as a stereo WAV (caller left, bot or agent right) in "
        "the data dir's recordings/; sensitive states are recorded as silence.",
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Signs the dashboard's session cookies; unset: a key made once and kept "
        "in the data dir (set one shared value when several bridges serve the dashboard).",
    )
    openai_api_key: SecretStr | None = Field(
        None, description="API key for the openai engine (never logged or shown)."
    )
    openai_realtime_url: str = Field(
        "wss://api.openai.com/v1/realtime",
        description="The Realtime API's WebSocket endpoint (a proxy or a test server).",
    )
    openai_model: str = "gpt-realtime"
    openai_voice: str = Field("marin", description="Default voice; a flow's `realtime.voice` wins.")
    openai_transcription_model: str = "gpt-4o-mini-transcribe"
    openai_connect_timeout_s: float = Field(
        2.0, gt=0, le=60, description="A caller hears nothing while it runs: keep it short."
    )
    openai_reconnect_s: float = Field(
        1.5, ge=0, le=30, description="How long a dropped session is retried before falling back."
    )
    openai_prices: dict[str, float] = Field(
        default_factory=dict,
        description="US dollars per million tokens, overriding the list prices: "
        "input_audio_tokens, input_text_tokens, cached_tokens, output_audio_tokens, "
        "output_text_tokens.",
    )
    openai_fallback: Literal["local", "flow"] = Field(
        "local",
        description="When the service stays away: go on with the local engine, or take the "
        "flow's own fallback (its transfer, else hang up).",
    )
    lookup_hosts: dict[str, str] = Field(
        default_factory=dict,
        description='Where flows\' lookup URLs live here: {"http://crm.internal": '
        '"http://10.0.0.5:8000"} (JSON in the environment).',
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_ENV}={config_file}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # -- derived values -----------------------------------------------------------------

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'callbridge.db'}"

    def as_environment(self) -> dict[str, str]:
        """These settings as ``CALLBRIDGE_*`` variables, secrets in clear: what a child
        process (a SIP worker) needs to run with exactly the values this one has."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, dict | list):
                text = json.dumps(value, default=str)
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            env[ENV_PREFIX + name.upper()] = text
        return env

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets and URL passwords masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = mask_url(value.get_secret_value()) if name.endswith("_url") else "********"
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        out["database_url"] = mask_url(self.effective_database_url)
        if self.redis_url is None:
            out["redis_url"] = "embedded"
        return out


def mask_url(url: str) -> str:
    """Hide the password of ``scheme://user:password@host/...``; other URLs pass unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
