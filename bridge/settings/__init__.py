"""One typed settings object for the whole bridge: a few settings of its own and one
group for each part that has many (:mod:`bridge.settings.groups`: ``sip``, ``twilio``,
``vonage``, ``openai``, ``events``, ``store_writer``).

Values come, highest priority first, from keyword arguments, ``CALLBRIDGE_*``
environment variables (``CALLBRIDGE_SIP__PORT`` for a grouped one; the flat
``CALLBRIDGE_SIP_PORT`` of earlier releases still works), a ``.env`` file, and an
optional TOML file named by ``CALLBRIDGE_CONFIG_FILE`` (``[sip]`` tables, or the flat
names). Secrets are :class:`~pydantic.SecretStr` so they never
reach a log line or ``callbridge config show`` in clear.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridge.settings.flat_names import FlatEnvironment, fold
from bridge.settings.groups import (
    GROUPS,
    EventSettings,
    OpenAISettings,
    SipSettings,
    StoreWriterSettings,
    TwilioSettings,
    VonageSettings,
)

ENV_PREFIX = "CALLBRIDGE_"
# A built-in engine's name, or a plug-in's import path (``package.module:Class``).
EngineName = Annotated[
    str, StringConstraints(pattern=r"^(local|openai|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
]
CONFIG_FILE_ENV = ENV_PREFIX + "CONFIG_FILE"
EXAMPLE_FLOW = Path(__file__).resolve().parents[2] / "flows" / "examples" / "card_services.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
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

    # Apply database migrations when the bridge starts (turn off where a deploy step does it).
    auto_migrate: bool = True
    number_flows: dict[str, Path] = Field(
        default_factory=dict,
        description='Which flow answers which dialled number: {"+441234567890": "flows/x.yaml"}; '
        "other numbers get default_flow.",
    )
    kamailio_binary: str = Field("kamailio", description="Kamailio, for --sip-workers.")
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
    lookup_hosts: dict[str, str] = Field(
        default_factory=dict,
        description='Where flows\' lookup URLs live here: {"http://crm.internal": '
        '"http://10.0.0.5:8000"} (JSON in the environment).',
    )

    sip: SipSettings = Field(default_factory=SipSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    vonage: VonageSettings = Field(default_factory=VonageSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    events: EventSettings = Field(default_factory=EventSettings)
    store_writer: StoreWriterSettings = Field(default_factory=StoreWriterSettings)

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, values: Any) -> Any:
        return fold(values) if isinstance(values, dict) else values

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
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            FlatEnvironment(settings_cls, ENV_PREFIX),
            dotenv_settings,
        ]
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
        for name, value in _leaves(self):
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
            env[ENV_PREFIX + name.replace(".", "__").upper()] = text
        return env

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data (``sip.port``: a grouped setting), secrets
        and URL passwords masked."""
        out: dict[str, Any] = {}
        for name, value in _leaves(self):
            if isinstance(value, SecretStr):
                value = mask_url(value.get_secret_value()) if name.endswith("_url") else "********"
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        out["database_url"] = mask_url(self.effective_database_url)
        if self.redis_url is None:
            out["redis_url"] = "embedded"
        return out


def _leaves(settings: Settings) -> list[tuple[str, Any]]:
    """Every setting as (dotted name, value): ``port``, ``sip.port``."""
    leaves: list[tuple[str, Any]] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name in GROUPS:
            leaves += [(f"{name}.{sub}", getattr(value, sub)) for sub in type(value).model_fields]
        else:
            leaves.append((name, value))
    return leaves


def mask_url(url: str) -> str:
    """Hide the password of ``scheme://user:password@host/...``; other URLs pass unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
