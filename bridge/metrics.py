"""Prometheus metrics of the bridge process, defined once per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()

EVENTS_PUBLISHED = Counter(
    "callbridge_events_published_total", "Events appended to the Redis stream."
)
EVENTS_REFUSED = Counter(
    "callbridge_events_refused_total",
    "Events refused because the local buffer was full while Redis was unreachable.",
)
EVENT_BUFFER = Gauge(
    "callbridge_event_buffer_events", "Events waiting in the local buffer for Redis."
)
REDIS_UP = Gauge("callbridge_event_log_redis_up", "1 while the event log reaches Redis.")
STORE_WRITER_LAG = Gauge(
    "callbridge_store_writer_lag_seconds",
    "Age of the oldest event the store writer has not made durable yet (0: up to date).",
)
EVENTS_STORED = Counter(
    "callbridge_store_writer_events_total", "Events the store writer made durable."
)
STORE_BATCH_SECONDS = Histogram(
    "callbridge_store_writer_batch_seconds",
    "Time to write one batch of events to the database.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONSUMER_ERRORS = Counter(
    "callbridge_consumer_errors_total", "Failed reads or handler runs of a consumer.", ["group"]
)
DEAD_LETTERS = Counter(
    "callbridge_consumer_dead_letters_total",
    "Stream entries that could not be decoded, moved aside.",
    ["group"],
)
RECORDING_FAILURES = Counter(
    "callbridge_recording_failures_total",
    "Call recordings that failed (disk full, folder unwritable); the calls went on.",
)
ACTIVE_CALLS = Gauge("callbridge_active_calls", "Calls in progress in this process.")
DRAINING = Gauge("callbridge_draining", "1 while the process refuses new calls and drains.")

# SIP, per worker: "0" for the one agent in `serve`, else the pool's worker index.
SIP_WORKER_UP = Gauge(
    "callbridge_sip_worker_up", "1 while a SIP worker runs and reports in.", ["worker"]
)
SIP_WORKER_RESTARTS = Counter(
    "callbridge_sip_worker_restarts_total", "SIP workers started again after dying.", ["worker"]
)
SIP_CALLS = Gauge("callbridge_sip_calls", "SIP calls in progress.", ["worker"])
SIP_REGISTERED = Gauge(
    "callbridge_sip_registered",
    "1 while registered with the SIP registrar (registration mode).",
    ["worker"],
)
SIP_RTP_LOSS = Gauge(
    "callbridge_sip_rtp_loss_ratio_max",
    "Worst incoming RTP packet loss among live SIP calls.",
    ["worker"],
)
SIP_RTP_JITTER = Gauge(
    "callbridge_sip_rtp_jitter_ms_max",
    "Worst incoming RTP jitter among live SIP calls, in ms.",
    ["worker"],
)
