from __future__ import annotations

import json
import logging

import pytest

from bridge import logs


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    logs.configure("debug", "json")

    def lines() -> list[dict[str, object]]:
        err = capsys.readouterr().err
        return [json.loads(line) for line in err.splitlines() if line]

    yield lines
    logging.getLogger().handlers[:] = []


def test_call_id_is_bound_into_every_line(json_logs) -> None:  # type: ignore[no-untyped-def]
    log = logs.get_logger("t")
    with logs.bind_call("CA123"):
        log.info("first")
        logging.getLogger("stdlib.module").warning("from the standard library")
    log.info("outside")
    first, stdlib_line, outside = json_logs()
    assert first["call_id"] == "CA123" and first["event"] == "first"
    assert stdlib_line["call_id"] == "CA123"
    assert "call_id" not in outside


def test_secrets_and_card_numbers_are_redacted(json_logs) -> None:  # type: ignore[no-untyped-def]
    logs.get_logger("t").info(
        "caller keyed 4111 1111 1111 1111 at the prompt", auth_token="abc", api_key="k", n=3
    )
    (line,) = json_logs()
    assert "4111 1111 1111 1111" not in line["event"]
    assert line["event"].endswith("************1111 at the prompt")
    assert line["auth_token"] == "********" and line["api_key"] == "********"
    assert line["n"] == 3


def test_mask_pan_leaves_short_numbers() -> None:
    assert logs.mask_pan("press 1 or call 555-0100") == "press 1 or call 555-0100"
    assert logs.mask_pan("5500-0000-0000-0004") == "************0004"
