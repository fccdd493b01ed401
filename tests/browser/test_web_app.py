"""The web app in a real browser: a 성동구 coordinator's day (sign in, only 성동구, a guard refuses with
its reason, a resident meeting, the agreement, the history with their name), a stale form in a second
browser, a note with markup shown as text, and the project page's screenshot for the README."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from webkit import OTHER, OWN, PASSWORD

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "web-project.png"
"""Written when DONGFLOW_UPDATE_SCREENSHOT=1 (so a test run leaves the checkout clean); otherwise the
screenshot is taken into the test's own folder and checked to be a real picture."""


def signed_in(chromium: Any, server: dict[str, Any], who: str, **options: Any) -> Any:
    context = chromium.new_context(locale="ko-KR", **options)
    page = context.new_page()
    page.goto(server["base"] + "/")
    assert "/login" in page.url
    page.fill("input[name=user]", who)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action$='/login'] button[type=submit]")
    page.wait_for_url(server["base"] + "/")
    return page


def test_a_coordinator_of_seongdong(chromium, server, tmp_path) -> None:
    page = signed_in(chromium, server, "coordinator", viewport={"width": 1280, "height": 900})
    assert OWN in page.inner_text("table.dash") and OTHER not in page.content()
    page.click("text=사업 목록")
    keys = page.locator("table.list tbody tr td:first-child").all_inner_texts()
    assert keys and all("성동구" in k for k in keys)

    key = server["keys"]["own"]
    page.click(f"text={key}")
    page.wait_for_url(re.compile(".*/projects/.*"))
    assert page.locator("svg.diagram .node.current").text_content().startswith("현장조사")

    # The agreement needs a resident meeting first: refused, with the reason.
    page.click("button[data-trigger=agree]")
    assert "진행할 수 없습니다" in page.inner_text(".alert.error")
    assert "resident_meetings" in page.inner_text(".alert.error .reason")

    # Record the meeting, then the agreement goes through.
    form = page.locator("form[action$='/participation']")
    form.locator("select[name=kind]").select_option("resident_meeting")
    form.locator("input[name=held_on]").fill("2026-03-01")
    form.locator("input[name=note]").fill("주민 설명 및 의견 수렴")
    form.locator("button[type=submit]").click()
    assert "참여 기록이 저장되었습니다" in page.inner_text(".alert.ok")
    assert page.inner_text("#fact-resident_meetings") == "1"
    page.click("button[data-trigger=agree]")
    assert "진행되었습니다" in page.inner_text(".alert.ok")
    assert page.locator("svg.diagram .node.current").text_content().startswith("사업협약")
    newest = page.locator("table.history tbody tr").first
    assert newest.locator("td.actor").inner_text() == "coordinator"
    assert "사업협약 체결" in newest.inner_text()

    # Another district's project does not exist for them.
    answer = page.goto(server["base"] + f"/projects/{server['keys']['other']}")
    assert answer is not None and answer.status == 404

    page.goto(server["base"] + f"/projects/{key}")
    shot = SCREENSHOT if os.environ.get("DONGFLOW_UPDATE_SCREENSHOT") == "1" else tmp_path / "web-project.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    page.context.close()


def test_a_stale_form_gets_the_conflict_page(chromium, server) -> None:
    key = "2016-성동구-금호1가동"
    first = signed_in(chromium, server, "coordinator")
    second = signed_in(chromium, server, "officer")
    for page in (first, second):
        page.goto(server["base"] + f"/projects/{key}")
    first.fill("form:has(button[data-trigger=hold]) input[name=note]", "설계 업체 선정 지연")
    first.click("button[data-trigger=hold]")
    assert "진행되었습니다" in first.inner_text(".alert.ok")
    # The second browser still shows the old version: its cancel must not overwrite the hold.
    second.fill("form:has(button[data-trigger=cancel]) input[name=note]", "중복 사업")
    second.click("button[data-trigger=cancel]")
    text = second.inner_text(".conflict")
    assert "다른 사람이 먼저 변경했습니다" in text and "coordinator" in text
    second.click("text=새로 읽기")
    assert second.locator("svg.diagram .node.current").text_content().startswith("보류")
    for page in (first, second):
        page.context.close()


def test_markup_in_a_note_is_shown_as_text(chromium, server) -> None:
    key = "2016-성동구-금호1가동"
    page = signed_in(chromium, server, "coordinator")
    page.goto(server["base"] + f"/projects/{key}")
    note = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    form = page.locator("form[action$='/participation']")
    form.locator("input[name=held_on]").fill("2026-03-02")
    form.locator("input[name=note]").fill(note)
    form.locator("button[type=submit]").click()
    assert note in page.inner_text("body")
    assert page.evaluate("window.pwned") is None
    page.context.close()


def test_english_switch_and_a_phone(chromium, server) -> None:
    page = signed_in(chromium, server, "viewer_own", viewport={"width": 390, "height": 844}, is_mobile=True)
    page.click("a.lang")
    assert "Dashboard" in page.inner_text("header")
    page.goto(server["base"] + f"/projects/{server['keys']['own']}")
    assert "History" in page.content() and "You can read this project but not change it." in page.content()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the page is {width}px wide on a 390px phone"
    page.context.close()
