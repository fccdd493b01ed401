"""Numbers and dates the web app reads take the digits 0-9 only: a full-width '３' or '２０１６', an
Arabic-Indic '٣' or a superscript '²' in an API query, path or body, a page's query or a form field
is refused (422, code 3, the field named) and nothing is written. Python's int(), float() and
Decimal() read the first three as numbers (engine.values.digits_problem is the one check)."""

from __future__ import annotations

import pytest

from pagekit import post_form, sign_in

PROBLEM = "application/problem+json"
DIGITS = ["３", "２０１６", "٣", "²"]


def _refused(response, *fragments: str) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == 3 and "Traceback" not in response.text
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def _state(site) -> tuple[int, dict]:
    project = site.get(f"/api/projects/{site.keys['own']}", "coordinator").json()
    return project["version"], project["facts"]


@pytest.mark.parametrize("digits", DIGITS)
@pytest.mark.parametrize("query", ["year", "limit", "offset"])
def test_api_queries_take_only_the_digits_0_to_9(site, digits, query) -> None:
    _refused(site.get(f"/api/projects?{query}={digits}", "coordinator"), query)


@pytest.mark.parametrize("digits", DIGITS)
def test_api_dates_paths_and_versions_take_only_the_digits_0_to_9(site, digits) -> None:
    _refused(site.get(f"/api/projects?as_of={digits}-03-01", "coordinator"), "as_of", "digits 0-9")
    _refused(site.get(f"/api/overdue?year={digits}", "coordinator"), "year")
    _refused(site.get(f"/api/workflows/space-improvement?version={digits}", "coordinator"), "version")
    _refused(site.get(f"/api/alerts/{digits}", "coordinator"), "alert_id")
    _refused(site.get(f"/api/alerts?limit={digits}", "coordinator"), "limit")


@pytest.mark.parametrize("digits", DIGITS)
def test_api_bodies_take_only_the_digits_0_to_9_and_write_nothing(site, digits) -> None:
    key = site.keys["own"]
    before = _state(site)
    body = _refused(site.post(f"/api/projects/{key}/facts", "coordinator",
                              json={"name": "design_revisions", "value": digits, "version": before[0]}),
                    f"fact design_revisions: {digits!r} is not written with the digits 0-9")
    assert body["field"] == "fact design_revisions"
    _refused(site.post(f"/api/projects/{key}/facts", "coordinator",
                       json={"name": "design_revisions", "value": 1, "version": digits}), "version")
    _refused(site.post(f"/api/projects/{key}/advance", "coordinator",
                       json={"trigger": "agree", "version": digits}), "version")
    assert _state(site) == before


@pytest.mark.parametrize("digits", DIGITS)
def test_api_corrections_bulk_moves_and_at_take_only_the_digits_0_to_9(site, digits) -> None:
    key = site.keys["own"]
    before = _state(site)
    version = before[0]
    for path, body, field in (
        (f"/api/projects/{key}/advance", {"trigger": "agree", "version": version, "at": f"{digits}-03-01"}, "at"),
        (f"/api/projects/{key}/facts", {"name": "design_revisions", "value": 1, "version": version,
                                        "at": f"2016-03-0{digits}"}, "at"),
        (f"/api/projects/{key}/undo", {"note": "n", "version": digits}, "version"),
        (f"/api/projects/{key}/retire", {"note": "n", "version": digits}, "version"),
        (f"/api/projects/{key}/edit", {"year": digits, "note": "n", "version": version}, "year"),
        (f"/api/projects/{key}/edit", {"target": f"{digits}-12-31", "note": "n", "version": version}, "target"),
        ("/api/bulk/advance", {"trigger": "agree", "where": {"year": digits}, "dry_run": False}, "year"),
        ("/api/bulk/advance", {"trigger": "agree", "keys": [key], "at": f"{digits}-03-01"}, "at"),
    ):
        _refused(site.post(path, "coordinator", json=body), field)
    assert _state(site) == before


def test_api_numbers_sent_as_text_are_read_like_the_cli_reads_them(site) -> None:
    """pydantic alone reads '1_0' as 10 and '3.0' as 3; the CLI refuses both (ascii_integer)."""
    for text in ("1_0", "3.0", "2_016"):
        _refused(site.get(f"/api/projects?limit={text}", "coordinator"), "limit")
    assert site.get("/api/projects?limit=2&year=2016", "coordinator").status_code == 200
    key = site.keys["own"]
    version, _facts = _state(site)
    done = site.post(f"/api/projects/{key}/facts", "coordinator",
                     json={"name": "design_revisions", "value": "1", "version": str(version)})
    assert done.status_code == 200, done.text  # ASCII digits as text are still fine


@pytest.mark.parametrize("digits", DIGITS)
def test_the_participation_form_refuses_unicode_digits_and_writes_nothing(site, digits) -> None:
    c = site.client
    csrf = sign_in(c, "coordinator")
    key = site.keys["own"]
    before = _state(site)
    form = {"kind": "resident_meeting", "held_on": "2026-03-01", "times": "1", "version": before[0]}
    for field, value in (("times", digits), ("held_on", f"{digits}-03-01")):
        refused = post_form(c, f"/projects/{key}/participation", {**form, field: value}, csrf)
        assert refused.status_code == 422, refused.text
        assert "digits 0-9" in refused.text  # the form error, on the page
    assert post_form(c, f"/projects/{key}/participation", {**form, "version": digits}, csrf).status_code == 422
    assert post_form(c, f"/projects/{key}/advance", {"trigger": "agree", "version": digits}, csrf).status_code == 422
    assert _state(site) == before


@pytest.mark.parametrize("digits", DIGITS)
def test_a_page_query_refuses_unicode_digits(site, digits) -> None:
    c = site.client
    sign_in(c, "coordinator")
    for query in (f"year={digits}", f"offset={digits}", f"as_of={digits}-03-01"):
        page = c.get(f"/projects?{query}")
        assert page.status_code == 422, (query, page.text[:300])
