"""What the HTTP service keeps of what it was sent (`store/kept.py`): retried posts and
re-uploaded logs add nothing twice, a failed post leaves nothing behind, and a forget
removes the forgotten text from the kept copies too, not only from the database.

Real parts: SQLite, FAISS, the bundled embedder, the ASGI app through FastAPI's client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from memdistill.service.http import Service, create_app
from memdistill.service.keys import create_key
from memdistill.store import kept

TALK = [
    {"role": "user", "content": "Why does the importer crash on the NOAA CSV?", "id": "q1"},
    {"role": "assistant", "content": "The CSV is latin-1; open it with encoding latin-1.",
     "id": "a1"},
    {"role": "user", "content": "Which port does the zanzibar API use in docker?", "id": "q2"},
    {"role": "assistant", "content": "uvicorn listens on port 8080 inside the container.",
     "id": "a2"},
]  # fmt: skip


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    store = tmp_path / "store"
    service = Service(store)
    key, _ = create_key(service.keys, "alice")
    with TestClient(create_app(service), headers={"Authorization": f"Bearer {key}"}) as http:
        yield http, store


def post(http: TestClient, messages: list[dict[str, Any]], conversation: str = "c1") -> Any:
    answer = http.post("/v1/ingest/messages",
                       json={"conversation_id": conversation, "messages": messages})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def kept_files(store: Path) -> list[Path]:
    return sorted(p for p in (store / kept.UPLOADS).rglob("*") if p.is_file())


def test_a_retried_post_adds_nothing(app: tuple[TestClient, Path]) -> None:
    http, store = app
    assert post(http, TALK)["exchanges_added"] == 2
    again = post(http, TALK)
    assert (again["exchanges_added"], again["messages_already_posted"]) == (0, 4)
    assert http.get("/v1/stats").json()["exchanges"] == 2
    (posted,) = kept_files(store)
    assert len(posted.read_text().splitlines()) == 4


def test_posts_without_ids_get_fresh_ids_never_reused(app: tuple[TestClient, Path]) -> None:
    """Found in review: ids by position came back after a forget removed lines, so a new
    post was taken for a retry, or for the forgotten exchange and skipped."""
    http, store = app
    no_ids = [{k: v for k, v in m.items() if k != "id"} for m in TALK]
    post(http, no_ids[:2])
    post(http, no_ids[2:])
    first = http.get("/v1/search", params={"q": "importer NOAA CSV", "k": 1}).json()[0]
    last = http.get("/v1/search", params={"q": "zanzibar port", "k": 1}).json()[0]
    for gone in (first, last):  # forget one, then post on: the new exchange is stored
        http.post("/v1/forget", json={"ids": [gone["exchange_id"]], "confirm": True})
        topic = f"pelican {gone['exchange_id']}"
        answer = post(http, [{"role": "user", "content": f"How is the {topic} fed?"},
                             {"role": "assistant", "content": "With sardines."}])  # fmt: skip
        assert answer["exchanges_added"] == 1 and answer["exchanges_forgotten_skipped"] == 0
        assert http.get("/v1/search", params={"q": topic, "k": 1}).json()[0]["exchange_core"]
    (posted,) = kept_files(store)
    ids = [json.loads(line)["message_id"] for line in posted.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 4 and all(i.startswith("c1:") for i in ids)
    # A retry with ids beside new messages without: each new one is stored.
    post(http, [{"role": "user", "content": "albatross wingspan?", "id": "w1"}], "c2")
    mixed = post(http, [{"role": "user", "content": "albatross wingspan?", "id": "w1"},
                        {"role": "user", "content": "and the condor wingspan?"}], "c2")  # fmt: skip
    assert (mixed["exchanges_added"], mixed["messages_already_posted"]) == (1, 1)
    assert post(http, [{"role": "user", "content": "and the swift's?"}], "c2")["exchanges_added"]


def test_ids_with_hash_or_tilde_forget_only_their_own_lines(app: tuple[TestClient, Path]) -> None:
    """Found in review: every id was cut at `#`/`~`, so forgetting `t#2` dropped `t`."""
    http, store = app
    talk = [{"role": "user", "content": "How do I reload nginx?", "id": "t"},
            {"role": "assistant", "content": "nginx -s reload", "id": "t-a"},
            {"role": "user", "content": "Where is the ostrich config?", "id": "t#2"},
            {"role": "assistant", "content": "In /etc/ostrich.", "id": "t#2a"}]  # fmt: skip
    post(http, talk)
    http.post("/v1/forget", json={"text": "ostrich", "confirm": True})
    (posted,) = kept_files(store)
    assert [json.loads(line)["message_id"] for line in posted.read_text().splitlines()] == [
        "t", "t-a"]  # fmt: skip
    assert post(http, talk[:2])["exchanges_left_source"] == 0
    assert http.get("/v1/search", params={"q": "reload nginx", "k": 1}).json()


def test_uploading_a_grown_log_again_adds_only_what_is_new(
    app: tuple[TestClient, Path], tmp_path: Path
) -> None:
    http, store = app
    lines = [json.dumps({"conversation_id": "up", "role": m["role"], "content": m["content"]})
             for m in TALK]  # fmt: skip
    first = http.post("/v1/ingest/upload",
                      files={"file": ("session.jsonl", "\n".join(lines[:2]) + "\n")})  # fmt: skip
    assert first.json()["exchanges_added"] == 1
    grown = http.post("/v1/ingest/upload",
                      files={"file": ("session.jsonl", "\n".join(lines) + "\n")})  # fmt: skip
    assert (grown.json()["exchanges_added"], grown.json()["exchanges_skipped"]) == (1, 1)
    assert http.get("/v1/stats").json()["exchanges"] == 2
    assert [p.name for p in kept_files(store)] == ["session.jsonl"]


def test_a_failed_post_leaves_the_kept_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "posted.jsonl"
    with kept.posting(path, "c", None, [{"role": "user", "content": "first"}]) as added:
        assert added == 1
    before = path.read_bytes()
    with pytest.raises(RuntimeError), kept.posting(path, "c", None, [
            {"role": "user", "content": "second"}]):  # fmt: skip
        raise RuntimeError("the ingest failed")
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError), kept.posting(tmp_path / "new.jsonl", "d", None, [
            {"role": "user", "content": "only"}]):  # fmt: skip
        raise RuntimeError("the ingest failed")
    assert not (tmp_path / "new.jsonl").exists()


def test_forget_removes_the_text_from_kept_posts_and_uploads(app: tuple[TestClient, Path]) -> None:
    http, store = app
    post(http, TALK)
    upload = [
        {"conversation_id": "up", "role": "user", "content": "Where is the kelpie config?"},
        {"conversation_id": "up", "role": "assistant", "content": "In ~/.kelpie.toml."},
    ]
    body = "".join(json.dumps(line) + "\n" for line in upload)
    assert http.post("/v1/ingest/upload", files={"file": ("log.jsonl", body)}).status_code == 200

    gone = http.post("/v1/forget", json={"text": "zanzibar", "confirm": True}).json()
    assert len(gone["forgotten"]) == 1 and gone["kept_files_rewritten"] and gone["scrubbed"]
    posted = next(p for p in kept_files(store) if p.parent.name == kept.POSTED)
    assert "zanzibar" not in posted.read_text() and "8080" not in posted.read_text()
    assert "latin-1" in posted.read_text()  # the other exchange's lines stay

    gone = http.post("/v1/forget", json={"text": "kelpie", "confirm": True}).json()
    assert gone["kept_files_deleted"] == ["log.jsonl"]
    everything = b"".join(p.read_bytes() for p in kept_files(store))
    assert b"kelpie" not in everything and b"zanzibar" not in everything

    # Posting on to the conversation neither brings the forgotten back nor duplicates.
    more = post(http, [{"role": "user", "content": "And the timezone of the tide table?"},
                       {"role": "assistant", "content": "UTC, always."}])  # fmt: skip
    assert more["exchanges_added"] == 1
    assert http.get("/v1/stats").json()["exchanges"] == 2
    hits = http.get("/v1/search", params={"q": "zanzibar port docker"}).json()
    assert all("zanzibar" not in json.dumps(h) for h in hits)


def test_forgetting_a_whole_posted_conversation_deletes_its_file(
    app: tuple[TestClient, Path],
) -> None:
    http, store = app
    post(http, TALK[:2], conversation="solo")
    post(http, TALK[2:], conversation="other")
    gone = http.post("/v1/forget", json={"conversation": "solo", "confirm": True}).json()
    assert len(gone["forgotten"]) == 1 and len(gone["kept_files_deleted"]) == 1
    assert b"NOAA" not in b"".join(p.read_bytes() for p in kept_files(store))
    assert len(kept_files(store)) == 1


def test_an_upload_can_be_kept_under_another_name(app: tuple[TestClient, Path]) -> None:
    http, store = app
    for n, topic in enumerate(["kelpie config", "marimba tuning"]):
        lines = [
            {"conversation_id": f"u{n}", "role": "user", "content": f"About the {topic}?"},
            {"conversation_id": f"u{n}", "role": "assistant", "content": "Noted."},
        ]
        body = "".join(json.dumps(line) + "\n" for line in lines)
        answer = http.post("/v1/ingest/upload", files={"file": ("chat.jsonl", body)},
                           data={"name": f"tool{n}/chat.jsonl"})  # fmt: skip
        assert answer.json()["exchanges_added"] == 1
    assert http.get("/v1/stats").json()["exchanges"] == 2  # neither replaced the other
    names = sorted(p.name for p in kept_files(store))
    assert [n[:10] for n in names] == ["tool0_chat", "tool1_chat"]  # made safe, apart
    assert all(n.endswith(".jsonl") for n in names)


def test_forgotten_text_sent_again_does_not_stay_in_the_kept_copies(
    app: tuple[TestClient, Path],
) -> None:
    """Found in review: a client re-posting its whole history, or re-uploading its grown
    log, wrote the forgotten lines back into the kept copy, where no forget could reach."""
    http, store = app
    post(http, TALK)
    assert http.post("/v1/forget", json={"text": "zanzibar", "confirm": True}).status_code == 200
    again = post(http, TALK)
    assert again["messages_forgotten_skipped"] == 2 and again["exchanges_added"] == 0
    log = [{"conversation_id": "up", "role": m["role"], "content": m["content"]} for m in TALK]
    body = "".join(json.dumps(line) + "\n" for line in log)
    http.post("/v1/ingest/upload", files={"file": ("s.jsonl", body)})
    gone = http.post("/v1/forget", json={"conversation": "up", "text": "zanzibar",
                                         "confirm": True})  # fmt: skip
    assert gone.status_code == 200
    grown = http.post("/v1/ingest/upload", files={"file": ("s.jsonl", body + body[:10])})
    assert grown.json()["exchanges_forgotten_skipped"] == 1
    assert all(b"zanzibar" not in p.read_bytes() for p in kept_files(store))
    assert http.get("/v1/stats").json()["exchanges"] == 2  # c1 and up each keep the other


def test_a_failed_upload_keeps_the_copy_it_had(app: tuple[TestClient, Path]) -> None:
    http, store = app
    log = [{"conversation_id": "up", "role": m["role"], "content": m["content"]} for m in TALK]
    body = "".join(json.dumps(line) + "\n" for line in log)
    assert http.post("/v1/ingest/upload", files={"file": ("s.jsonl", body)}).status_code == 200
    junk = http.post("/v1/ingest/upload", files={"file": ("s.jsonl", "{ not json")},
                     data={"format": "generic"})  # fmt: skip
    assert junk.status_code == 200 and junk.json()["files_failed"] == 1
    unknown = http.post("/v1/ingest/upload", files={"file": ("s.jsonl", "x")},
                        data={"format": "nonsense"})  # fmt: skip
    assert unknown.status_code >= 400
    (copy,) = kept_files(store)
    assert copy.read_text() == body
    assert http.get("/v1/stats").json()["exchanges"] == 2


def test_upload_names_stay_apart_and_unknown_form_fields_are_refused(
    app: tuple[TestClient, Path],
) -> None:
    http, store = app
    for name, topic in (("会話.jsonl", "kelpie"), ("メモ.jsonl", "marimba")):
        line = {"conversation_id": topic, "role": "user", "content": f"About the {topic}?"}
        answer = http.post("/v1/ingest/upload", files={"file": (name, json.dumps(line) + "\n")})
        assert answer.json()["exchanges_added"] == 1
    assert http.get("/v1/stats").json()["exchanges"] == 2
    assert all(p.suffix == ".jsonl" for p in kept_files(store)) and len(kept_files(store)) == 2
    typo = http.post("/v1/ingest/upload", files={"file": ("a.jsonl", "x")}, data={"nmae": "b"})
    assert typo.status_code == 400 and "nmae" in typo.json()["error"]
    assert len(kept_files(store)) == 2


def test_forget_finds_the_kept_copies_after_the_store_moved(tmp_path: Path) -> None:
    store = tmp_path / "store"
    service = Service(store)
    key, _ = create_key(service.keys, "alice")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(service), headers=headers) as http:
        post(http, TALK)
        # No conversation id in these logs: one is made from the file, scoped by its path.
        log = [{"role": m["role"], "content": m["content"]} for m in TALK]
        for name in ("notes.jsonl", "uploads"):  # a name like a folder of the kept path
            upload(http, name, log)
    moved = tmp_path / "moved"
    store.rename(moved)
    service = Service(moved)
    with TestClient(create_app(service), headers=headers) as http:
        gone = http.post("/v1/forget", json={"text": "zanzibar", "confirm": True}).json()
        assert gone["kept_files_rewritten"]
        assert sorted(gone["kept_files_deleted"]) == ["notes.jsonl", "uploads"]
        assert all(b"zanzibar" not in p.read_bytes() for p in kept_files(moved))
        # Found in review: sent again after the move, the log was a new conversation, so
        # the forgotten exchange came back and the other one was stored twice.
        again = upload(http, "notes.jsonl", log)
        assert (again["exchanges_forgotten_skipped"], again["exchanges_added"]) == (1, 0)
        assert http.get("/v1/stats").json()["exchanges"] == 3
    assert all(b"zanzibar" not in p.read_bytes() for p in kept_files(moved))


def upload(http: TestClient, name: str, lines: list[dict[str, Any]]) -> Any:
    body = "".join(json.dumps(line) + "\n" for line in lines)
    answer = http.post("/v1/ingest/upload", files={"file": (name, body)})
    assert answer.status_code == 200, answer.text
    return answer.json()


def holding(store: Path, text: str) -> list[str]:
    return [p.name for p in kept_files(store) if text.encode() in p.read_bytes()]


def test_forget_reaches_every_kept_copy_of_a_conversation(app: tuple[TestClient, Path]) -> None:
    """Found in review: only the file the store recorded as an exchange's source was
    scrubbed, so the same log uploaded under a second name, or a posted conversation also
    uploaded, kept the forgotten text; and an upload of the same conversation that never
    held the forgotten exchange was deleted with it."""
    http, store = app
    log = [{"conversation_id": "up", "role": m["role"], "content": m["content"]} for m in TALK]
    upload(http, "a.jsonl", log)
    assert upload(http, "b.jsonl", log)["exchanges_skipped"] == 2  # a copy: nothing new
    post(http, TALK, conversation="posted")
    copy = [{"conversation_id": "posted", "message_id": m["id"], "role": m["role"],
             "content": m["content"]} for m in TALK]  # fmt: skip
    upload(http, "c.jsonl", copy)
    day1, day2 = (
        [{"conversation_id": "days", "message_id": f"{m['id']}", "role": m["role"],
          "content": m["content"]} for m in part]
        for part in (TALK[:2], TALK[2:])
    )  # fmt: skip
    upload(http, "day1.jsonl", day1)
    upload(http, "day2.jsonl", day2)
    assert len(holding(store, "zanzibar")) == 5

    gone = http.post("/v1/forget", json={"text": "zanzibar", "confirm": True}).json()
    assert len(gone["forgotten"]) == 3  # one exchange in each conversation
    assert sorted(gone["kept_files_deleted"]) == ["a.jsonl", "b.jsonl", "c.jsonl", "day2.jsonl"]
    assert len(gone["kept_files_rewritten"]) == 1  # the posted conversation
    assert holding(store, "zanzibar") == [] and holding(store, "8080") == []
    assert "day1.jsonl" in holding(store, "NOAA")  # never held it: kept


def test_lines_are_found_by_position_whatever_their_ids(app: tuple[TestClient, Path]) -> None:
    """Found in review: ids were matched after cutting a parser-like suffix, so forgetting
    `step~2` dropped `step`; and ids the parser reads differently (blank, padded) were
    never found, so the forgotten line stayed."""
    http, store = app
    for conversation, ids in (("tilde", ["step", "step-a", "step~2", "step~2a"]),
                              ("blank", ["  ", "   ", "q", "a"]),
                              ("padded", [" q1 ", "a1", " q2 ", "a2"])):  # fmt: skip
        talk = [{**m, "id": i} for m, i in zip(TALK, ids, strict=True)]
        talk = talk[2:] + talk[:2] if conversation == "blank" else talk
        post(http, talk, conversation)
    gone = http.post("/v1/forget", json={"text": "zanzibar", "confirm": True}).json()
    assert len(gone["forgotten"]) == 3 and len(gone["kept_files_rewritten"]) == 3
    assert holding(store, "zanzibar") == [] and holding(store, "8080") == []
    assert len(holding(store, "NOAA")) == 3 and len(holding(store, "latin-1")) == 3
    for conversation, ids in (("tilde", ["step", "step-a"]), ("padded", [" q1 ", "a1"])):
        again = post(http, [{**m, "id": i} for m, i in zip(TALK, ids, strict=False)],
                     conversation)  # fmt: skip
        assert (again["messages_already_posted"], again["exchanges_left_source"]) == (2, 0)


def test_a_posted_file_goes_only_when_no_line_is_left(app: tuple[TestClient, Path]) -> None:
    """Found in review: a file with no prompt left was deleted, though an agent's opening
    words (an exchange of their own) were still in it."""
    http, store = app
    greeting = {"role": "assistant", "content": "Welcome, I am the lighthouse keeper bot.",
                "id": "hello"}  # fmt: skip
    post(http, [greeting, *TALK[2:]])
    assert http.get("/v1/stats").json()["exchanges"] == 2
    gone = http.post("/v1/forget", json={"text": "zanzibar", "confirm": True}).json()
    assert gone["kept_files_deleted"] == [] and len(gone["kept_files_rewritten"]) == 1
    assert len(holding(store, "lighthouse")) == 1
    more = post(http, [{"role": "user", "content": "And the heron?"}])
    assert more["exchanges_left_source"] == 0
    assert http.get("/v1/stats").json()["statuses"] == {"active": 2}


def test_what_a_stopped_server_left_half_written_is_cleared(tmp_path: Path) -> None:
    """A server killed mid-write leaves `.previous-` (an upload's old copy) and `.partial-`
    files that no forget would read. Made here by hand, as a kill would leave them (killing
    a server midway is shown in test_crash.py); the next server clears them at start, and
    a forget clears any that appear while it runs."""
    store = tmp_path / "store"
    service = Service(store)
    key, _ = create_key(service.keys, "alice")
    headers = {"Authorization": f"Bearer {key}"}
    log = [{"conversation_id": f"c{n // 2}", "role": m["role"], "content": m["content"]}
           for n, m in enumerate(TALK)]  # fmt: skip
    with TestClient(create_app(service), headers=headers) as http:
        upload(http, "s.jsonl", log[:2])
        upload(http, "gone.jsonl", log[2:])
    (folder,) = {p.parent for p in kept_files(store)}
    # Killed after the new copy of s.jsonl landed, and before the new gone.jsonl did.
    (folder / ".previous-s.jsonl").write_text(json.dumps(log[3]) + "\n")
    (folder / "gone.jsonl").rename(folder / ".previous-gone.jsonl")
    (folder / ".partial-140-s.jsonl").write_text(json.dumps(log[3]) + "\n")
    service = Service(store)  # tidies at start
    assert sorted(p.name for p in folder.iterdir()) == ["gone.jsonl", "s.jsonl"]
    assert "NOAA" in (folder / "s.jsonl").read_text()  # the newer copy stays
    with TestClient(create_app(service), headers=headers) as http:
        (folder / ".partial-7-x.jsonl").write_text(json.dumps(log[2]) + "\n")
        (folder / ".previous-s.jsonl").write_text(json.dumps(log[2]) + "\n")
        gone = http.post("/v1/forget", json={"text": "zanzibar", "confirm": True}).json()
        assert gone["kept_files_deleted"] == ["gone.jsonl"]
    assert [p.name for p in folder.iterdir()] == ["s.jsonl"] and holding(store, "zanzibar") == []


def test_ingest_scrubs_only_the_kept_copies_of_its_own_tenant(
    app: tuple[TestClient, Path], tmp_path: Path
) -> None:
    """Found in review: a user's own file whose path merely looked like a kept copy
    (`.../uploads/<a>/files/<name>`) was taken for one, and the live copy deleted."""
    from memdistill.api import Memory

    http, store = app
    log = [{"conversation_id": f"c{n // 2}", "role": m["role"], "content": m["content"]}
           for n, m in enumerate(TALK)]  # fmt: skip
    upload(http, "s.jsonl", log[2:])
    http.post("/v1/forget", json={"text": "zanzibar", "confirm": True})
    upload(http, "s.jsonl", log[:2])  # the name now holds another exchange
    (live,) = kept_files(store)
    own = tmp_path / "mine" / kept.UPLOADS / live.parent.parent.name / "files" / "s.jsonl"
    own.parent.mkdir(parents=True)
    own.write_text("".join(json.dumps(line) + "\n" for line in log[2:]))
    with Memory.open(store, tenant="alice") as memory:
        assert memory.ingest([own]).exchanges_forgotten_skipped == 1
    assert own.exists() and kept_files(store) == [live]


def test_history_sent_again_after_a_forget_stays_forgotten(app: tuple[TestClient, Path]) -> None:
    """Found in review: a client re-posting its whole history with ids got the forgotten
    messages appended after the newer ones, where they grouped into exchanges no tombstone
    named: the text came back (a system line first), or a new answer joined a tombstoned
    exchange and was lost with it. Forgotten message ids are now never appended again."""
    http, store = app
    system = {"role": "system", "content": "You are a travel assistant.", "id": "s0"}
    history = [system, *TALK]
    post(http, history)
    gone = http.post("/v1/forget", json={"text": "NOAA", "confirm": True}).json()
    assert len(gone["forgotten"]) == 1  # s0 with q1 and a1
    again = post(http, history)
    assert (again["messages_forgotten_skipped"], again["messages_already_posted"]) == (3, 2)
    assert again["exchanges_added"] == again["exchanges_updated"] == 0
    assert holding(store, "NOAA") == [] and holding(store, "travel assistant") == []

    turn = [*history, {"role": "user", "content": "How do I tune the pelican feeder?",
                       "id": "q3"}]  # fmt: skip
    assert post(http, turn)["exchanges_added"] == 1
    turn.append({"role": "assistant", "content": "Set the sardine valve to 7 bar.", "id": "a3"})
    answered = post(http, turn)
    assert (answered["exchanges_updated"], answered["exchanges_forgotten_skipped"]) == (1, 0)
    hit = http.get("/v1/search", params={"q": "pelican feeder", "k": 1}).json()[0]
    texts = [m["text"] for m in http.get(f"/v1/exchanges/{hit['exchange_id']}").json()["messages"]]
    assert texts == ["How do I tune the pelican feeder?", "Set the sardine valve to 7 bar."]
    assert holding(store, "sardine valve") and holding(store, "NOAA") == []


def test_a_conversation_with_no_exchange_leaves_its_kept_file_too(
    app: tuple[TestClient, Path],
) -> None:
    http, store = app
    post(http, [{"role": "system", "content": "The zanzibar vault code is 0451.", "id": "s"}])
    gone = http.post("/v1/forget", json={"text": "vault code", "confirm": True}).json()
    assert (gone["forgotten"], gone["loose_messages_deleted"]) == ([], 1)
    assert len(gone["kept_files_deleted"]) == 1 and holding(store, "zanzibar") == []
    again = post(http, [{"role": "system", "content": "The zanzibar vault code is 0451.",
                         "id": "s"}])  # fmt: skip
    assert again["messages_forgotten_skipped"] == 1 and kept_files(store) == []
