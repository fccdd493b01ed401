"""The calendar feed of the web app: a viewer's token in the URL, iCalendar out (parsed back with an
independent parser, vobject, and round-tripped through icalendar); other tokens refused, nothing written."""

from __future__ import annotations

from urllib.parse import quote

from webkit import OTHER, OWN, snapshot


def test_a_viewer_subscribes_with_the_token_in_the_url(site) -> None:
    import icalendar
    import vobject

    response = site.client.get(f"/feeds/{quote(OWN)}.ics", params={"token": site.tokens["viewer_own"]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    cal = vobject.readOne(response.text)
    uids = [e.uid.value for e in cal.contents["vevent"]]
    assert uids and len(uids) == len(set(uids))
    described = {e.description.value.split(":")[0] for e in cal.contents["vevent"]}
    assert described == {site.keys["own"], "2016-성동구-금호1가동"}  # only its district
    assert all(u.startswith("project-") for u in uids)  # by the project's id, not its key
    assert cal.contents["x-wr-timezone"][0].value == "Asia/Seoul"
    parsed = icalendar.Calendar.from_ical(response.content)
    assert parsed.to_ical() == response.content  # round trip
    assert [str(e["uid"]) for e in parsed.walk("VEVENT")] == uids
    assert [tz["tzid"] for tz in parsed.walk("VTIMEZONE")] == ["Asia/Seoul"]
    again = site.client.get(f"/feeds/{quote(OWN)}.ics", params={"token": site.tokens["viewer_all"]})
    assert [e.uid.value for e in vobject.readOne(again.text).contents["vevent"]] == uids  # stable UIDs


def test_feeds_refuse_writers_other_districts_and_bad_tokens(site) -> None:
    before = snapshot(site.url)
    for who, gu, status in (("officer", OWN, 403), ("coordinator", OWN, 403), ("admin", OWN, 403),
                            ("viewer_own", OTHER, 403)):
        response = site.client.get(f"/feeds/{quote(gu)}.ics", params={"token": site.tokens[who]})
        assert response.status_code == status, (who, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert site.client.get(f"/feeds/{quote(OWN)}.ics", params={"token": "dft_nope_nope"}).status_code == 401
    assert site.client.get(f"/feeds/{quote(OWN)}.ics").status_code == 401
    assert snapshot(site.url) == before
