"""The dashboard in a real browser (Debian's chromium under Playwright), one person of each
role. Screenshots of each page go to test-artifacts/screenshots/."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bridge.conversation.recording import recording_path
from bridge.store.wav_files import StereoRecorder
from harness.audio import VOICES, synthesize
from tests.bridge.web.dashboard.conftest import PASSWORD, USERS, Dashboard, stored

CHROMIUM = shutil.which("chromium")
EXAMPLE_TESTS = Path(__file__).resolve().parents[4] / "flows/examples/card_services.test.yaml"
SHOTS = Path(__file__).resolve().parents[4] / "test-artifacts" / "screenshots"
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
    ),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.parametrize("redis_url", ["embedded"], indirect=True),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield b
        await b.close()


async def log_in(browser: Browser, dashboard: Dashboard, role: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(dashboard.url + "/login")
    await page.get_by_label("User name").fill(USERS[role])
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("header .who")).to_contain_text(f"{USERS[role]} · {role}")
    return page


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_every_role_logs_in_and_sees_only_its_pages(
    browser: Browser, dashboard: Dashboard
) -> None:
    page = await browser.new_page()
    await page.goto(dashboard.url + "/flows")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await shot(page, "login")
    for role, home in (("agent", "/live"), ("supervisor", "/calls"), ("admin", "/flows")):
        page = await log_in(browser, dashboard, role)
        assert page.url.endswith(home)
        await shot(page, f"home-{role}")
        links = await page.locator("header nav a").all_inner_texts()
        assert ("Flows" in links) == (role == "admin")
        assert ("Call review" in links) == (role != "agent")
        r = await page.goto(dashboard.url + "/flows/edit")
        assert r is not None and r.status == (200 if role == "admin" else 403)
        await page.close()


async def test_an_agent_watches_a_call_line_by_line(browser: Browser, dashboard: Dashboard) -> None:
    call = dashboard.call()
    call.start(caller="+447700900555")
    await stored(dashboard.services, call.id)
    page = await log_in(browser, dashboard, "agent")
    row = page.locator("#live-calls tbody tr", has_text="+447700900555")
    await expect(row).to_be_visible(timeout=5000)
    await shot(page, "agent-live-calls")
    await row.get_by_role("link", name="watch").click()
    await expect(page.locator("#status")).to_have_text("live")
    lines = [("bot", "Thank you for calling."), ("caller", "I lost my card on the train"),
             ("bot", "I can block it now."), ("caller", "Yes please do that")]  # fmt: skip
    delays = []
    for speaker, text in lines:
        sent = time.monotonic()
        call.say(speaker, text)
        await expect(page.locator("#transcript li.line", has_text=text)).to_be_visible(timeout=1000)
        delays.append(time.monotonic() - sent)
    print("transcript line on screen after its event:", [f"{d * 1000:.0f} ms" for d in delays])
    assert max(delays) <= 1.0
    await expect(page.locator("#path li")).to_have_text(["greet"])
    await shot(page, "agent-live-call")
    call.end("completed")
    await expect(page.locator("#status")).to_have_text("ended (completed)")


async def test_a_supervisor_finds_a_call_by_a_word_and_plays_it(
    browser: Browser, dashboard: Dashboard
) -> None:
    call = dashboard.call()
    call.start(caller="+447700900777")
    call.say("bot", "Thank you for calling.", 1500)
    call.say("caller", "Somebody stole my wallet with the card in it", 2500)
    call.end("transferred")
    voice = synthesize("Somebody stole my wallet with the card in it", VOICES[1])
    with StereoRecorder(recording_path(dashboard.services.settings.data_dir, call.id)) as rec:
        pcm = np.concatenate([np.zeros(16000 * 2, np.int16), voice, np.zeros(16000, np.int16)])
        for i in range(0, len(pcm) - 320, 320):
            rec.write(pcm[i : i + 320], None)
    await stored(dashboard.services, call.id)
    other = dashboard.call()
    other.start()
    other.say("caller", "What is my balance")
    other.end()
    await stored(dashboard.services, other.id)

    page = await log_in(browser, dashboard, "supervisor")
    await page.get_by_label("Words said").fill("wallet")
    await page.get_by_role("button", name="Find").click()
    rows = page.locator("#calls tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+447700900777")
    await shot(page, "supervisor-search")
    await rows.first.get_by_role("link").click()
    await expect(page.locator("#transcript li")).to_have_count(2)
    await page.locator("#transcript li", has_text="wallet").click()  # seek to the line, play
    await page.wait_for_function("document.getElementById('recording').currentTime > 2.2")
    await expect(page.locator("#transcript li.now")).to_contain_text("wallet")
    await shot(page, "supervisor-call")


async def test_an_admin_breaks_a_flow_sees_where_fixes_it_and_publishes(
    browser: Browser, dashboard: Dashboard
) -> None:
    page = await log_in(browser, dashboard, "admin")
    await page.goto(dashboard.url + "/flows/edit")
    editor = page.locator("#source")
    source = await editor.input_value()
    assert "flow: card_services" in source
    await expect(page.locator("#check")).to_have_text("valid")
    broken = source.replace("    next: menu\n", "    next: menuu\n", 1)
    line = broken.split("\n").index("    next: menuu") + 1
    await editor.fill(broken)
    problem = page.locator("#problems li").first
    await expect(problem).to_contain_text(f"line {line}: unknown state `menuu`")
    await expect(problem).to_contain_text("did you mean `menu`?")
    await expect(page.locator(f"#gutter div:nth-child({line})")).to_have_class("bad")
    await shot(page, "admin-editor-error")
    await editor.fill(source)
    await expect(page.locator("#check")).to_have_text("valid")
    await expect(page.locator("#graph img")).to_be_visible()
    await page.get_by_role("button", name="Run tests").click()
    cases = EXAMPLE_TESTS.read_text().count("\n  - name:")
    await expect(page.locator("#test-result")).to_contain_text(f"{cases} of {cases} passed")
    await expect(page.locator("#test-result")).to_contain_text("states 100%")
    await page.get_by_role("button", name="Publish").click()
    await expect(page.locator("#published")).to_have_text("published card_services version 1")
    await shot(page, "admin-editor-published")
    await page.goto(dashboard.url + "/flows")
    await expect(page.locator("#versions tr.active")).to_contain_text("card_services")
    await shot(page, "admin-flows")
