"""The browsing endpoints the web page is built on (issue 17): a conversation in order, an
exchange's place in it, exchanges in time, a timeline by day, the refined memories, the
forget preview, the size distribution; with the API's tenancy, errors and key checks.
And the page itself: served at / with its assets from the package, under a strict CSP.

Real parts: SQLite, FAISS, the bundled ONNX embedder, FastAPI's in-process client;
tests/test_ui.py drives the page in a real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from corpus import EXCHANGES, write_generic
from fastapi.testclient import TestClient
from test_service_http import Client

from memdistill.api import Memory
from memdistill.service.http import Service, create_app
from memdistill.service.keys import create_key
from memdistill.service.page import UI

BOB_TALK = [
    {"role": "user", "content": "How long should sourdough proof?"},
    {"role": "assistant", "content": "About 4 hours at 24 C, until it has doubled."},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("browse")
    store = folder / "store"
    with Memory.open(store, tenant="alice") as memory:
        memory.ingest([write_generic(folder / "alice.jsonl")])
    service = Service(store)
    alice_key, _ = create_key(service.keys, "alice")
    bob_key, _ = create_key(service.keys, "bob")
    with TestClient(create_app(service)) as http:
        alice, bob = Client(http, alice_key), Client(http, bob_key)
        bob.post("/v1/ingest/messages", json={"conversation_id": "c1", "messages": BOB_TALK})
        yield {"http": http, "alice": alice, "bob": bob}


def ids_of(client: Client, conversation: str) -> list[int]:
    page = client.get(f"/v1/conversations/{conversation}").json()
    return [x["memory"]["exchange_id"] for x in page["exchanges"]]


def test_a_conversation_comes_in_order_with_its_messages(served: dict[str, Any]) -> None:
    alice = served["alice"]
    listed = alice.get("/v1/conversations").json()
    assert {c["conversation_id"] for c in listed} == {"c1", "c2", "c3", "c4"}
    assert listed[0]["conversation_id"] == "c4"  # the most recent first
    assert {c["conversation_id"]: c["exchanges"] for c in listed}["c1"] == 3
    garden = alice.get("/v1/conversations", params={"project": "garden"}).json()
    assert [c["conversation_id"] for c in garden] == ["c3"]
    page = alice.get("/v1/conversations/c1").json()
    prompts = [x["messages"][0]["text"] for x in page["exchanges"]]
    assert prompts == [e[3] for e in EXCHANGES if e[0] == "c1"]
    assert all(x["status"] == "active" for x in page["exchanges"])
    assert [m["kind"] for m in page["exchanges"][0]["messages"]] == [
        "prompt", "tool_call", "tool_result", "text"]  # fmt: skip
    second = alice.get("/v1/conversations/c1", params={"offset": 1, "limit": 1}).json()
    assert second["offset"] == 1 and len(second["exchanges"]) == 1
    assert second["exchanges"][0]["messages"][0]["text"] == "yes"
    assert second["conversation"]["exchanges"] == 3


def test_an_exchange_knows_its_previous_and_next(served: dict[str, Any]) -> None:
    alice = served["alice"]
    first, middle, last = ids_of(alice, "c1")
    place = alice.get(f"/v1/exchanges/{middle}/place").json()
    assert place == {"conversation_id": "c1", "position": 2, "of": 3, "previous": first,
                     "next": last, "status": "active", "replaced_by": None}  # fmt: skip
    assert alice.get(f"/v1/exchanges/{first}/place").json()["previous"] is None
    assert alice.get(f"/v1/exchanges/{last}/place").json()["next"] is None


def test_exchanges_in_time_and_the_timeline_by_day(served: dict[str, Any]) -> None:
    alice = served["alice"]
    days = alice.get("/v1/timeline", params={"project": "tidewater"}).json()
    assert [d["day"] for d in days] == ["2026-03-02", "2026-03-03", "2026-03-05", "2026-03-06",
                                        "2026-03-12"]  # fmt: skip
    assert days[0]["exchanges"] == 2 and days[0]["conversations"] == 1
    assert all(len(d["rooms"]) <= 3 for d in days)
    # The garden's exchanges are at 10:05 UTC on 8 March and 10:06 on the 9th: in Pago Pago
    # (UTC-11) that is the evening of the 7th and of the 8th.
    garden = {"project": "garden"}
    assert [d["day"] for d in alice.get("/v1/timeline", params=garden).json()] == [
        "2026-03-08", "2026-03-09"]  # fmt: skip
    local = alice.get("/v1/timeline", params={**garden, "tz": "Pacific/Pago_Pago"}).json()
    assert [d["day"] for d in local] == ["2026-03-07", "2026-03-08"]
    for zone in ("Mars/Olympus", "America", "../etc", "/etc/passwd", "UTC\x00"):
        bad = alice.get("/v1/timeline", params={"tz": zone})
        assert bad.status_code == 400 and "time zone" in bad.json()["error"], zone
    day = alice.get("/v1/exchanges", params={"since": "2026-03-02T00:00:00Z",
                                             "until": "2026-03-03T00:00:00Z"}).json()  # fmt: skip
    assert [h["exchange_core"] for h in day] and all(
        h["started_at"].startswith("2026-03-02") for h in day
    )
    everything = alice.get("/v1/exchanges").json()
    times = [h["started_at"] for h in everything]
    assert len(everything) == len(EXCHANGES) and times == sorted(times)
    paged = alice.get("/v1/exchanges", params={"limit": 2, "offset": 1}).json()
    assert [h["exchange_id"] for h in paged] == [h["exchange_id"] for h in everything[1:3]]


def test_refined_memories_are_listed_with_their_reason_and_restorable(
    served: dict[str, Any],
) -> None:
    alice = served["alice"]
    target = ids_of(alice, "c3")[1]
    alice.get("/v1/search", params={"q": "water basil", "k": 1})  # served once
    alice.post("/v1/feedback", json={"ids": [target], "useful": False})
    assert alice.get("/v1/refined").json() == []
    report = alice.post("/v1/refine", json={"rules": ["prune"], "min_freq": 1}).json()
    assert [c["exchange_id"] for c in report["changes"]] == [target]
    refined = alice.get("/v1/refined").json()
    assert [(r["memory"]["exchange_id"], r["status"], r["rule"]) for r in refined] == [
        (target, "pruned", "prune")]  # fmt: skip
    assert refined[0]["reason"].startswith("served 1 times, useful 0")
    assert alice.get("/v1/refined", params={"status": "merged"}).json() == []
    assert alice.get(f"/v1/exchanges/{target}/place").json()["status"] == "pruned"
    assert served["bob"].get("/v1/refined").json() == []
    assert alice.post(f"/v1/restore/{target}").status_code == 200
    assert alice.get("/v1/refined").json() == []


def test_the_forget_preview_lists_what_goes_and_deletes_nothing(served: dict[str, Any]) -> None:
    alice = served["alice"]
    before = alice.get("/v1/stats").json()["exchanges"]
    preview = alice.post("/v1/forget/preview", json={"text": "TOMATOES"}).json()
    assert [t["conversation_id"] for t in preview["exchanges"]] == ["c3"]
    assert "tomatoes" in preview["exchanges"][0]["exchange_core"].lower()
    assert preview["loose"] == [] and preview["restores"] == 0
    assert alice.get("/v1/stats").json()["exchanges"] == before
    nothing = alice.post("/v1/forget/preview", json={"text": "no such words anywhere"})
    assert nothing.status_code == 404
    unselected = alice.post("/v1/forget/preview", json={})
    assert unselected.status_code == 400 and "selector" in unselected.json()["error"]
    typo = alice.post("/v1/forget/preview", json={"txt": "tomatoes"})
    assert typo.status_code == 422


def test_the_distribution_counts_every_searchable_exchange(served: dict[str, Any]) -> None:
    alice = served["alice"]
    data = alice.get("/v1/stats/distribution", params={"bins": 5}).json()
    assert data["exchanges"] == alice.get("/v1/stats").json()["exchanges"]
    for name in ("verbatim_tokens", "distilled_tokens", "compression"):
        assert sum(data[name]["counts"]) == data["exchanges"]
        assert len(data[name]["edges"]) == 6
    empty = served["bob"].get("/v1/stats/distribution").json()
    assert empty["exchanges"] == 1
    assert alice.get("/v1/stats/distribution", params={"bins": 1}).status_code == 422


def test_modes_and_refine_settings_are_what_the_api_takes(served: dict[str, Any]) -> None:
    alice = served["alice"]
    modes = alice.get("/v1/modes").json()
    assert modes["default_mode"] in modes["modes"] and "convex" in modes["fusions"]
    for mode in modes["modes"]:
        assert alice.get("/v1/search", params={"q": "latin-1", "mode": mode}).status_code == 200
    convex = alice.get("/v1/search", params={"q": "latin-1", "mode": "distilled-hybrid",
                                             "fusion": "convex", "weights": "0.9,0.1"})  # fmt: skip
    assert convex.status_code == 200 and convex.json()
    bad = alice.get("/v1/search", params={"q": "x", "fusion": "convex", "weights": "1,nan"})
    assert bad.status_code == 400 and "weights" in bad.json()["error"]
    settings = alice.get("/v1/refine/settings").json()
    assert settings["min_freq"] == 5 and settings["rules"] == ["merge", "supersede", "prune"]


def test_no_browsing_endpoint_shows_another_tenant(served: dict[str, Any]) -> None:
    alice, bob = served["alice"], served["bob"]
    alice_id = ids_of(alice, "c1")[0]
    # Bob has a conversation c1 of his own: he sees his, never alice's.
    bobs = bob.get("/v1/conversations/c1").json()
    assert [x["messages"][0]["text"] for x in bobs["exchanges"]] == [BOB_TALK[0]["content"]]
    assert [c["conversation_id"] for c in bob.get("/v1/conversations").json()] == ["c1"]
    assert bob.get("/v1/conversations/c2").status_code == 404
    assert bob.get(f"/v1/exchanges/{alice_id}/place").status_code == 404
    assert bob.get("/v1/exchanges", params={"project": "tidewater"}).json() == []
    assert all(h["project"] != "tidewater" for h in bob.get("/v1/exchanges").json())
    assert bob.get("/v1/timeline", params={"project": "tidewater"}).json() == []
    assert bob.post("/v1/forget/preview", json={"ids": [alice_id]}).status_code == 404
    assert bob.post("/v1/forget/preview", json={"text": "latin-1"}).status_code == 404
    assert bob.get("/v1/stats/distribution").json()["exchanges"] == 1


def test_every_api_endpoint_needs_a_key(served: dict[str, Any]) -> None:
    """Every /v1 path of the schema, asked with no key and with a wrong one: 401."""
    http: TestClient = served["http"]
    schema = http.get("/openapi.json").json()
    asked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        url = path.replace("{exchange_id}", "1").replace("{key}", "k").replace(
            "{conversation_id}", "c1")  # fmt: skip
        for method in operations:
            for headers in ({}, {"Authorization": "Bearer mdk_wrong"}):
                answer = http.request(method.upper(), url, headers=headers)
                assert answer.status_code == 401, (method, path, answer.text)
                assert set(answer.json()) == {"error", "type"}
                asked += 1
    assert asked >= 2 * 20


def test_the_page_and_its_assets_are_served_from_the_package_under_a_strict_csp(
    served: dict[str, Any],
) -> None:
    http: TestClient = served["http"]
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "require-trusted-types-for 'script'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/ui/js/app.js">' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    assets = sorted(p for p in UI.rglob("*") if p.is_file() and p.suffix in {".js", ".css"})
    assert len(assets) > 10
    for asset in assets:
        answer = http.get("/ui/" + asset.relative_to(UI).as_posix())
        assert answer.status_code == 200 and answer.content == asset.read_bytes()
        if asset.suffix == ".js":  # module scripts need a JavaScript type under nosniff
            assert "javascript" in answer.headers["content-type"]
    for vendored in (UI / "vendor").iterdir():
        if vendored.is_dir():
            assert list(vendored.glob("LICENSE*")), f"{vendored.name} ships without its licence"
    assert http.get("/v1/modes").headers["cache-control"] == "no-store"  # memories: never cached
    assert http.get("/ui/nothing.js").status_code == 404


def test_every_file_of_the_page_is_package_data() -> None:
    """pyproject's package-data globs take every file under service/ui/, so a wheel serves
    the same page as a checkout (a new folder needs a new glob)."""
    import tomllib

    pyproject = tomllib.loads((UI.parents[2] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["memdistill"]
    package = UI.parents[1]
    shipped = {path for pattern in globs for path in package.glob(pattern) if path.is_file()}
    assert {path for path in UI.rglob("*") if path.is_file()} <= shipped
