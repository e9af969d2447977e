"""The HTTP service (issue 6): endpoints, tenancy that no request can cross, API keys,
limits and errors, the OpenAPI schema kept in the repo, and schemathesis against it.

Real parts throughout: SQLite, FAISS, the bundled ONNX embedder, FastAPI's in-process
client (the ASGI app itself, no mock); tests/test_service_server.py runs a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import write_generic
from fastapi.testclient import TestClient

from memdistill.service.http import Service, create_app, openapi_schema
from memdistill.service.keys import create_key, list_keys, revoke_key

REPO = Path(__file__).resolve().parents[1]
ALICE_TALK = [
    {"role": "user", "content": "Why does the importer crash on the NOAA CSV?"},
    {"role": "assistant", "content": "The CSV is latin-1; open it with encoding='latin-1' "
     "in src/tidewater/importer.py."},
    {"role": "user", "content": "Which port does the API use in docker?"},
    {"role": "assistant", "content": "uvicorn listens on port 8080 inside the container."},
]  # fmt: skip


class Client:
    def __init__(self, http: TestClient, key: str | None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.http.post(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = tmp_path_factory.mktemp("http") / "store"
    service = Service(store, max_upload_bytes=200_000)
    alice_key, _ = create_key(service.keys, "alice", "laptop")
    bob_key, _ = create_key(service.keys, "bob")
    with TestClient(create_app(service)) as http:
        alice, bob = Client(http, alice_key), Client(http, bob_key)
        posted = alice.post("/v1/ingest/messages", json={
            "conversation_id": "a1", "project": "tide", "messages": ALICE_TALK})  # fmt: skip
        assert posted.status_code == 200, posted.text
        assert posted.json()["exchanges_added"] == 2
        hits = alice.get("/v1/search", params={"q": "importer crash latin-1"}).json()
        yield {"http": http, "alice": alice, "bob": bob, "service": service,
               "alice_key": alice_key, "bob_key": bob_key, "alice_id": hits[0]["exchange_id"],
               "store": store}  # fmt: skip


def test_search_drill_down_rooms_stats_for_the_key_owner(served: dict[str, Any]) -> None:
    alice, alice_id = served["alice"], served["alice_id"]
    hits = alice.get("/v1/search", params={"q": "importer crash latin-1", "k": 1}).json()
    assert hits[0]["exchange_id"] == alice_id and "latin-1" in hits[0]["exchange_core"]
    assert hits[0]["project"] == "tide" and hits[0]["conversation_id"] == "a1"
    exchange = alice.get(f"/v1/exchanges/{alice_id}").json()
    assert [m["role"] for m in exchange["messages"]] == ["user", "assistant"]
    assert exchange["messages"][0]["text"] == ALICE_TALK[0]["content"]
    rooms = alice.get("/v1/rooms").json()
    assert rooms and all(r["project"] == "tide" for r in rooms)
    room = alice.get(f"/v1/rooms/{rooms[0]['key']}", params={"project": "tide"}).json()
    assert room and room[0]["project"] == "tide"
    assert alice.get("/v1/stats").json()["exchanges"] == 2
    assert served["http"].get("/health").json()["status"] == "ok"  # no key needed


def test_posting_more_messages_extends_the_conversation(served: dict[str, Any]) -> None:
    alice = served["alice"]
    more = [{"role": "user", "content": "How do I rotate the nginx logs?"},
            {"role": "assistant", "content": "Use logrotate with a daily rule."}]  # fmt: skip
    answer = alice.post("/v1/ingest/messages", json={
        "conversation_id": "a1", "project": "tide", "messages": more}).json()  # fmt: skip
    assert (answer["exchanges_added"], answer["exchanges_skipped"]) == (1, 2)
    hits = alice.get("/v1/search", params={"q": "rotate nginx logs", "k": 1}).json()
    assert hits[0]["conversation_id"] == "a1"


def test_no_endpoint_lets_one_tenant_reach_anothers_memories(served: dict[str, Any]) -> None:
    bob, alice_id = served["bob"], served["alice_id"]
    assert bob.get("/v1/search", params={"q": "importer crash latin-1"}).json() == []
    assert bob.get("/v1/search", params={"q": "importer", "project": "tide"}).json() == []
    assert bob.get("/v1/search", params={"q": "importer", "conversation": "a1"}).json() == []
    assert bob.get(f"/v1/exchanges/{alice_id}").status_code == 404
    assert bob.get("/v1/rooms").json() == []
    assert bob.get("/v1/stats").json()["exchanges"] == 0
    assert bob.get(f"/v1/history/{alice_id}").status_code == 404
    assert bob.post(f"/v1/restore/{alice_id}").status_code == 404
    assert bob.post("/v1/feedback", json={"ids": [alice_id], "useful": True}).status_code == 404
    forget = bob.post("/v1/forget", json={"ids": [alice_id], "confirm": True})
    assert forget.status_code == 404 and "no exchange" in forget.json()["error"]
    assert bob.post("/v1/forget", json={"text": "latin-1", "confirm": True}).status_code == 404
    refine = bob.post("/v1/refine", json={"dry_run": True}).json()
    assert refine["active_before"] == 0
    # Forged identity: headers naming a tenant change nothing; a parameter is refused.
    forged = {"X-Tenant": "alice", "X-Memdistill-Tenant": "alice", "X-Forwarded-User": "alice"}
    assert bob.get("/v1/search", params={"q": "importer"}, headers=forged).json() == []
    named = bob.get("/v1/search", params={"q": "importer", "tenant": "alice"}, headers=forged)
    assert named.status_code == 400 and "unknown query parameter tenant" in named.json()["error"]
    assert bob.get(f"/v1/exchanges/{alice_id}", headers=forged).status_code == 404
    # Bob's own conversation with alice's conversation id stays bob's.
    bob.post("/v1/ingest/messages", json={"conversation_id": "a1", "messages": [
        {"role": "user", "content": "bob's question about sourdough"},
        {"role": "assistant", "content": "feed the starter"}]})  # fmt: skip
    seen_by_alice = served["alice"].get("/v1/search", params={"q": "sourdough starter"}).json()
    assert all("sourdough" not in h["exchange_core"] for h in seen_by_alice)
    assert served["bob"].get("/v1/search", params={"q": "sourdough starter"}).json()
    assert served["alice"].get(f"/v1/exchanges/{alice_id}").status_code == 200


def test_keys_are_required_hashed_and_revocable(served: dict[str, Any]) -> None:
    http, service = served["http"], served["service"]
    missing = http.get("/v1/search", params={"q": "x"})
    assert missing.status_code == 401 and "memdistill keys create" in missing.json()["error"]
    wrong = http.get("/v1/search", params={"q": "x"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.json()["error"]
    raw = (served["store"] / "memdistill.db").read_bytes()
    assert served["alice_key"].encode() not in raw  # only its hash is kept
    key, record = create_key(service.keys, "carol")
    carol = Client(http, key)
    assert carol.get("/v1/stats").status_code == 200
    revoke_key(service.keys, record.id)
    assert carol.get("/v1/stats").status_code == 401
    assert [k.tenant for k in list_keys(service.keys)] == ["alice", "bob", "carol"]


def test_bad_requests_get_4xx_that_say_what_was_wrong(served: dict[str, Any]) -> None:
    alice = served["alice"]
    mode = alice.get("/v1/search", params={"q": "x", "mode": "nonsense"})
    assert mode.status_code == 400 and "mode" in mode.json()["error"]
    assert alice.get("/v1/search", params={"q": "x", "k": 0}).status_code == 422
    assert alice.get("/v1/exchanges/999999").status_code == 404
    body = alice.post("/v1/ingest/messages", json={"conversation_id": "../etc", "messages": []})
    assert body.status_code == 422
    unconfirmed = alice.post("/v1/forget", json={"ids": [served["alice_id"]]})
    assert unconfirmed.status_code == 422 and "confirm" in unconfirmed.text
    restore = alice.post(f"/v1/restore/{served['alice_id']}")
    assert restore.status_code == 409 and "active" in restore.json()["error"]
    huge = alice.post("/v1/feedback", content=b"x" * (3 * 2**20),
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 413 and "over" in huge.json()["error"]


def test_uploading_a_log_ingests_it_and_keeps_the_file(
    served: dict[str, Any], tmp_path: Path
) -> None:
    alice = served["alice"]
    log = write_generic(tmp_path / "chat.jsonl")
    with log.open("rb") as handle:
        answer = alice.post("/v1/ingest/upload", files={"file": ("chat.jsonl", handle)},
                            data={"project": "uploaded"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["exchanges_added"] > 0
    kept = list((served["store"] / "uploads").rglob("*chat.jsonl"))
    assert len(kept) == 1 and kept[0].read_bytes() == log.read_bytes()
    big = alice.post("/v1/ingest/upload", files={"file": ("big.jsonl", b"x" * 300_000)})
    assert big.status_code == 413
    junk = alice.post("/v1/ingest/upload", files={"file": ("junk.bin", b"\x00\x01 not a log")})
    assert junk.status_code == 200 and junk.json()["exchanges_added"] == 0


def test_refine_and_forget_over_http(served: dict[str, Any]) -> None:
    alice = served["alice"]
    plan = alice.post("/v1/refine", json={"dry_run": True, "rules": ["merge"]}).json()
    assert plan["dry_run"] and set(plan["counts"]) == {"merge", "supersede", "prune"}
    hits = alice.get("/v1/search", params={"q": "rotate nginx logs", "k": 1}).json()
    gone = alice.post("/v1/forget", json={"ids": [hits[0]["exchange_id"]], "confirm": True})
    assert gone.status_code == 200 and gone.json()["forgotten"] == [hits[0]["exchange_id"]]
    after = alice.get("/v1/search", params={"q": "rotate nginx logs"}).json()
    assert hits[0]["exchange_id"] not in [h["exchange_id"] for h in after]


def test_auth_off_acts_for_the_servers_tenant_and_answers_only_localhost(
    tmp_path: Path,
) -> None:
    service = Service(tmp_path / "store", open_tenant="solo")
    with TestClient(create_app(service), base_url="http://127.0.0.1:8787") as http:
        http.post("/v1/ingest/messages", json={"conversation_id": "s", "messages": ALICE_TALK})
        assert http.get("/v1/stats").json()["exchanges"] == 2
        # DNS rebinding (a foreign Host) and a page of another site (Origin) are refused.
        rebound = http.get("/v1/stats", headers={"Host": "evil.example:8787"})
        assert rebound.status_code == 403 and "localhost" in rebound.json()["error"]
        page = http.get("/v1/stats", headers={"Origin": "https://evil.example"})
        assert page.status_code == 403 and "Origin" in page.json()["error"]
        assert http.get("/v1/stats", headers={"Origin": "http://localhost:3000"}).status_code == 200
    assert Service(tmp_path / "store").keys.db.execute(
        "SELECT DISTINCT tenant FROM exchanges").fetchall() == [("solo",)]  # fmt: skip


def test_the_openapi_schema_in_the_repo_is_current() -> None:
    """docs/openapi.json is what clients read: regenerate it with
    `memdistill serve --print-openapi > docs/openapi.json` when the API changes."""
    kept = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert kept == json.loads(json.dumps(openapi_schema()))


def test_unknown_fields_and_parameters_are_refused_not_ignored(served: dict[str, Any]) -> None:
    alice = served["alice"]
    # A misspelt selector must not widen a deletion to "everything confirm names".
    misspelt = alice.post("/v1/forget", json={"conversaton": "a1", "confirm": True})
    assert misspelt.status_code == 422 and "conversaton" in misspelt.json()["error"]
    assert misspelt.json()["type"] == "ValidationError"
    assert alice.get("/v1/stats").json()["exchanges"] >= 2
    typo = alice.get("/v1/search", params={"q": "importer", "projekt": "tide"})
    assert typo.status_code == 400 and "projekt" in typo.json()["error"]
    assert "project" in typo.json()["error"]  # and says what it takes


def test_a_body_streamed_without_a_length_is_held_to_the_limit(served: dict[str, Any]) -> None:
    alice = served["alice"]

    def chunks(total: int) -> Iterator[bytes]:
        for _ in range(total // 2**16):
            yield b" " * 2**16

    streamed = alice.post("/v1/feedback", content=chunks(3 * 2**20),
                          headers={"Content-Type": "application/json"})  # fmt: skip
    assert streamed.status_code == 413 and "over" in streamed.json()["error"]
    small = alice.post("/v1/feedback", content=iter([b'{"ids": [1], ', b'"useful": true}']),
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert small.status_code in (200, 404)  # read whole: the limit counts, does not cut


def test_a_time_with_no_utc_equivalent_is_a_422_and_stores_nothing(
    served: dict[str, Any],
) -> None:
    alice = served["alice"]
    bad = [{"role": "user", "content": "ancient", "timestamp": "0001-01-01T00:00+05:00"},
           {"role": "assistant", "content": "indeed"}]  # fmt: skip
    answer = alice.post("/v1/ingest/messages", json={"conversation_id": "t0", "messages": bad})
    assert answer.status_code == 422 and "UTC" in answer.json()["error"]
    good = [{"role": "user", "content": "modern question"}, {"role": "assistant", "content": "ok"}]
    answer = alice.post("/v1/ingest/messages", json={"conversation_id": "t0", "messages": good})
    assert answer.status_code == 200 and answer.json()["exchanges_added"] == 1
    far_bound = {"q": "modern question", "until": "9999-12-31T23:00-05:00"}
    far = alice.get("/v1/search", params=far_bound)
    assert far.status_code == 200 and far.json()  # a far bound means "to the end", not nothing


def test_a_lone_surrogate_is_a_clear_error_never_a_500(
    served: dict[str, Any],
) -> None:
    alice = served["alice"]
    json_body = {"Content-Type": "application/json"}
    invalid = alice.post("/v1/feedback", content=b'{"ids": [1], "useful": true, "\\ud800": 1}',
                         headers=json_body)  # fmt: skip
    assert invalid.status_code == 422 and invalid.json()["type"] == "ValidationError"
    role = alice.post("/v1/ingest/messages", headers=json_body, content=b'{"conversation_id": '
                      b'"s1", "messages": [{"role": "\\udc00", "content": "x"}]}')  # fmt: skip
    assert role.status_code == 422
    text = alice.post("/v1/ingest/messages", headers=json_body, content=b'{"conversation_id": '
                      b'"s1", "messages": [{"role": "user", "content": "half \\ud83d emoji"}, '
                      b'{"role": "assistant", "content": "noted"}]}')  # fmt: skip
    assert text.status_code == 422 and "messages.0.content holds a lone" in text.json()["error"]
    # Bytes that are not UTF-8 in a query or path are replaced, then answered.
    assert alice.get("/v1/search?q=half%ED%A0%BDemoji").status_code == 200
    odd = alice.get("/v1/search?q=x&%ED%A0%BD=1")
    assert odd.status_code == 400 and "unknown query parameter" in odd.json()["error"]


def test_a_lone_surrogate_in_any_body_field_is_a_422(served: dict[str, Any]) -> None:
    """Found in review: unconstrained fields reached SQLite, which cannot store one."""
    alice = served["alice"]
    json_body = {"Content-Type": "application/json"}
    for url, body in (
        ("/v1/forget", b'{"conversation": "a\\ud800", "confirm": true}'),
        ("/v1/forget", b'{"project": "a\\udfff", "confirm": true}'),
        ("/v1/refine", b'{"project": "a\\ud800"}'),
    ):
        answer = alice.post(url, content=body, headers=json_body)
        assert answer.status_code == 422 and "surrogate" in answer.json()["error"], url
