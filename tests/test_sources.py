"""The API areas over real HTTP on loopback: auth, keyset paging that stays consistent while records
change, the rate limit, each injected fault, and the Open Referral UK directory feeds."""

import json
import time

import pyarrow.parquet as pq
import pytest
import requests


KEYS = {"tower_hamlets": ("id", "updatedAt"), "swansea_npt": ("referral_ref", "last_modified")}


def sync(api, area: str, since: str | None = None, limit: int = 250, on_page=None) -> tuple[dict, int]:
    """Every record changed after `since`, the newest version of each, and how many rows came back."""
    key, updated = KEYS[area]
    latest, rows, cursor, pages = {}, 0, None, 0
    while True:
        params = {"limit": limit, **({"updated_since": since} if since else {}), **({"cursor": cursor} if cursor else {})}
        response = api.get(area, "referrals", params=params)
        response.raise_for_status()
        body = response.json()
        for record in body["data"]:
            rows += 1
            if record[key] not in latest or record[updated] >= latest[record[key]][updated]:
                latest[record[key]] = record
        pages += 1
        if on_page:
            on_page(pages)
        if not body["has_more"]:
            return latest, rows
        cursor = body["next_cursor"]


def test_a_token_is_required(api):
    assert api.get("tower_hamlets", "referrals", token="wrong").status_code == 401
    response = requests.get(f"{api.base}/tower_hamlets/api/referrals", timeout=10)
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]
    # one area's token does not open another area
    assert api.get("tower_hamlets", "referrals", token=api.token("swansea_npt")).status_code == 401


def test_a_clean_sync_returns_every_referral_once(api, world):
    latest, rows = sync(api, "tower_hamlets")
    ids = set(pq.read_table(world / "ground_truth_people" / "tower_hamlets.parquet")["referral_id"].to_pylist())
    assert set(latest) == ids
    assert rows == len(ids)  # nothing repeated when nothing changes
    record = next(iter(latest.values()))
    assert {"client", "referrer", "service", "issues", "status", "createdAt", "updatedAt"} <= set(record)
    assert record["updatedAt"].endswith("Z") and isinstance(record["issues"], list)


def test_records_that_change_during_a_sync_are_not_lost(api):
    since = "2022-06-01T00:00:00Z"
    expected, _ = sync(api, "tower_hamlets", since=since)

    api.admin("clock", {"now": "2022-06-30T12:00:00Z"})

    def move_clock(page: int) -> None:
        if page == 1:  # mid-sync, time passes: records already served change, new ones arrive
            api.admin("clock", {"now": None})

    latest, rows = sync(api, "tower_hamlets", since=since, limit=50, on_page=move_clock)
    assert latest == expected
    assert rows > len(expected)  # records changed after being served came round again


def test_incremental_sync_picks_up_changes_between_runs(api):
    api.admin("clock", {"now": "2022-03-31T23:00:00Z"})
    first, _ = sync(api, "swansea_npt")
    watermark = max(r["last_modified"] for r in first.values())
    api.admin("clock", {"now": None})
    changes, _ = sync(api, "swansea_npt", since=watermark)
    assert changes and all(r["last_modified"] > watermark for r in changes.values())
    assert any(key in first for key in changes), "some earlier records were updated"
    merged = {**first, **changes}
    full, _ = sync(api, "swansea_npt")
    assert merged == full


def test_swansea_times_carry_the_uk_offset(api):
    latest, _ = sync(api, "swansea_npt")
    sent = [r["date_sent"] for r in latest.values()]
    assert any(s.endswith("+01:00") for s in sent) and any(s.endswith("+00:00") for s in sent)
    names = " ".join(r["person"]["forename"] + " " + r["person"]["surname"] for r in latest.values())
    assert "ŷ" in names and "ŵ" in names


def test_rate_limit_answers_429_with_retry_after(api):
    api.admin("faults", {"rate_limit": 2})
    statuses = [api.get("tower_hamlets", "referrals", params={"limit": 1}) for _ in range(8)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert statuses[0].status_code == 200
    time.sleep(1.1)
    assert api.get("tower_hamlets", "referrals", params={"limit": 1}).status_code == 200


def test_server_errors_are_injected_every_nth_request(api):
    api.admin("faults", {"error_every": 3})
    statuses = [api.get("tower_hamlets", "referrals", params={"limit": 5}).status_code for _ in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 503]


def test_a_truncated_body_is_not_valid_json(api):
    api.admin("faults", {"truncate_every": 2})
    first = api.get("tower_hamlets", "referrals", params={"limit": 50})
    second = api.get("tower_hamlets", "referrals", params={"limit": 50})
    assert first.json()["data"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(second.content)


def test_slow_responses_time_out_a_hasty_client(api):
    api.admin("faults", {"slow_ms": 600})
    with pytest.raises(requests.Timeout):
        api.get("tower_hamlets", "referrals", params={"limit": 5}, timeout=0.2)
    assert api.get("tower_hamlets", "referrals", params={"limit": 5}, timeout=5).status_code == 200


def test_a_record_repeated_across_pages(api):
    api.admin("faults", {"repeat_record": 1})
    first = api.get("tower_hamlets", "referrals", params={"limit": 20}).json()
    second = api.get("tower_hamlets", "referrals", params={"limit": 20, "cursor": first["next_cursor"]}).json()
    assert first["data"][-1] == second["data"][0]
    latest, rows = sync(api, "tower_hamlets", limit=100)
    assert rows > len(latest)  # repeats arrive, a client that keys on id still ends with each record once


def test_bad_requests_say_what_is_wrong(api):
    response = api.get("tower_hamlets", "referrals", params={"updated_since": "last tuesday"})
    assert response.status_code == 400 and "bad request" in response.json()["error"]
    assert api.get("tower_hamlets", "nothing-here").status_code == 404


def test_directories_in_open_referral_uk_form(api, world):
    hsds = api.get("tower_hamlets", "services", params={"per_page": 10}).json()
    assert {"total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents"} <= set(hsds)
    services = []
    for page in range(1, hsds["total_pages"] + 1):
        services += api.get("tower_hamlets", "services", params={"per_page": 10, "page": page}).json()["contents"]
    assert len(services) == hsds["total_items"] == len({s["id"] for s in services})
    assert any(s["name"] == "" for s in services) and all("<p>" in s["description"] for s in services)
    one = api.get("tower_hamlets", f"services/{services[0]['id']}").json()
    assert one["id"] == services[0]["id"] and one["attributes"][0]["taxonomy_term"]["term"]

    v1 = api.get("swansea_npt", "services", params={"per_page": 5}).json()
    assert {"totalElements", "totalPages", "number", "size", "first", "last", "content"} <= set(v1)
    assert v1["content"][0]["service_taxonomys"]

    api.admin("clock", {"now": "2021-10-01T00:00:00Z"})
    early = api.get("swansea_npt", "services", params={"per_page": 1000}).json()["totalElements"]
    assert 0 < early < v1["totalElements"]  # services join the directory over time
