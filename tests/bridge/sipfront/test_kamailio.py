"""The pool's Kamailio, without running it."""

from __future__ import annotations

from bridge.sipfront import kamailio


def test_the_kamailio_config_is_where_the_pool_looks_for_it() -> None:
    """Not skipped with the rest: a pool that cannot find its config is a bug, not a
    machine without Kamailio."""
    assert kamailio.CONFIG.is_file(), kamailio.CONFIG
