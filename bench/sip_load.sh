#!/usr/bin/env bash
# SIP calls held at once: sipp through Kamailio to the worker pool, RTP both ways.
# Run `make install` first. Options: see bench/sip_load.py (--calls, --hold, --workers).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.sip_load "$@"
