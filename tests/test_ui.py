"""The web page (issue 17), driven in a real headless Chromium: search as you type, open a
hit, read it as a chat, step through the conversation, browse a room and the timeline,
refine and restore, forget with a preview and a confirmation, stats; an exchange full of
HTML and script rendered inert; one tenant's key never showing another's memories; the
keyboard, a phone-width window; `memdistill ui` on loopback without keys.

Real parts throughout: a real uvicorn server on loopback over a real store (SQLite, FAISS,
the bundled ONNX embedder), Debian's chromium driven by Playwright (`executable_path`, never
a downloaded browser). Without Chromium or Playwright the tests skip, saying how to get
them (under CI=true they fail instead: CI installs both).

MEMDISTILL_SCREENSHOTS=docs/screenshots writes a PNG of each view there (the README's).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from corpus import write_generic
from typer.testing import CliRunner

from memdistill.api import Memory
from memdistill.cli import app as cli_app
from memdistill.service.http import Service, create_app
from memdistill.service.keys import create_key

REPO = Path(__file__).resolve().parents[1]
SESSION = (
    REPO / "data/samples/claude-code/-home-sam-tidewater/c6d93b34-4d30-49de-b6d9-07f35d4ccea7.jsonl"
)
CHROMIUM = Path(os.environ.get("MEMDISTILL_CHROMIUM", "/usr/bin/chromium"))
# As root in a container, on a network that refuses what Chromium phones home for.
# (Playwright's launch gives every run a fresh, temporary --user-data-dir.)
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
SHOTS = os.environ.get("MEMDISTILL_SCREENSHOTS")
DESKTOP = {"width": 1200, "height": 860}
PHONE = {"width": 390, "height": 844}

# An exchange whose every part tries to run script or load something.
INJECTION_PROMPT = (
    'zebrafish <script>window.__pwned = "prompt"</script> <img src=x '
    "onerror=\"window.__pwned='prompt-img'\"> <b>not bold</b>"
)
INJECTION_REPLY = """zebrafish reply with **real bold**,
[a markdown link](javascript:window.__pwned='md'), ![a picture](https://example.invalid/track.png),
`<script>inline()</script>` and inline
<img src="x" onerror="window.__pwned='inline-img'"> <a href="javascript:window.__pwned='a'">raw</a>.

<script>window.__pwned = "reply"</script>
<iframe src="javascript:window.__pwned='iframe'"></iframe>
<svg onload="window.__pwned='svg'"></svg>

<details open ontoggle="window.__pwned='toggle'">toggle</details>

<style>body { display: none }</style>

```html
<script>window.__pwned = "code"</script><img src=x onerror=alert(1)>
```
"""
INJECTION_TOOL = "echo '<script>window.__pwned=\"tool\"</script>'"
INJECTION_RESULT = "<img src=x onerror=\"window.__pwned='result'\"><script>alert(2)</script>"


def _no_browser(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generic(path: Path, conversation: str, project: str, turns: list[tuple[str, str]],
            day: int, tool: tuple[str, str] | None = None) -> Path:  # fmt: skip
    """A generic-format log: (prompt, reply) turns, optionally one tool round in the first."""
    lines: list[dict[str, Any]] = []
    for n, (prompt, reply) in enumerate(turns):
        base = {"conversation_id": conversation, "project": project,
                "timestamp": f"2026-04-{day:02d}T09:{n:02d}:00Z"}  # fmt: skip
        lines.append({**base, "message_id": f"{conversation}-{n}-u", "role": "user",
                      "content": prompt})  # fmt: skip
        if tool and n == 0:
            call = {
                "id": "t1",
                "type": "function",
                "function": {"name": "bash", "arguments": json.dumps({"command": tool[0]})},
            }
            lines.append(
                {
                    **base,
                    "message_id": f"{conversation}-{n}-c",
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [call],
                }
            )
            lines.append({**base, "message_id": f"{conversation}-{n}-r", "role": "tool",
                          "tool_call_id": "t1", "content": tool[1]})  # fmt: skip
        lines.append({**base, "message_id": f"{conversation}-{n}-a", "role": "assistant",
                      "content": reply})  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


class Api:
    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                                 timeout=120)  # fmt: skip

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params)
        return answer.json() if answer.status_code == 200 else answer

    def post(self, path: str, body: Any = None) -> Any:
        return self.http.post(path, json=body)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real server on loopback: alice with a Claude Code session, the generic corpus, the
    injection exchange and a pasted password; bob with a conversation of his own."""
    folder = tmp_path_factory.mktemp("ui")
    store = folder / "store"
    logs = [
        SESSION,
        write_generic(folder / "corpus.jsonl"),
        generic(folder / "inject.jsonl", "inject", "sandbox", [(INJECTION_PROMPT, INJECTION_REPLY)],
                day=1, tool=(INJECTION_TOOL, INJECTION_RESULT)),
        generic(folder / "oops.jsonl", "oops", "sandbox",
                [("log in with password hunter2 please", "Logged in to the staging box.")], day=2),
    ]  # fmt: skip
    with Memory.open(store, tenant="alice") as memory:
        memory.ingest(logs)
    with Memory.open(store, tenant="bob") as memory:
        bread = [("How long should the sourdough proof?", "About 4 hours at 24 C, until doubled."),
                 ("And the oven?", "Preheat to 250 C with the Dutch oven inside.")]  # fmt: skip
        memory.ingest([generic(folder / "bob.jsonl", "bread", "kitchen", bread, day=3)])
    service = Service(store)
    alice_key, _ = create_key(service.keys, "alice")
    bob_key, _ = create_key(service.keys, "bob")
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.config.port}"
    yield {"url": url, "store": store, "alice_key": alice_key, "bob_key": bob_key,
           "alice": Api(url, alice_key), "bob": Api(url, bob_key)}  # fmt: skip
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the page's tests need Playwright: pip install -e '.[dev]'")
    if not CHROMIUM.exists():
        _no_browser(f"the page's tests need Chromium at {CHROMIUM}: apt-get install -y "
                    "chromium (or set MEMDISTILL_CHROMIUM to a Chromium binary)")  # fmt: skip
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any, served: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """open_page(hash, key=alice's, viewport=DESKTOP) -> a page at url/#hash whose console
    errors, page errors, requests to anywhere but its server and CSP violations are
    collected (and must stay empty: asserted after the test)."""
    contexts: list[Any] = []
    problems: list[str] = []

    def open_(hash: str = "", *, key: str | None = "alice", viewport: dict[str, int] = DESKTOP,
              url: str | None = None) -> Any:  # fmt: skip
        context = browser.new_context(viewport=viewport, timezone_id="UTC", locale="en-US")
        contexts.append(context)
        given = served.get(f"{key}_key", key) if key else None
        if given:
            context.add_init_script(f"localStorage.setItem('memdistill.key', {json.dumps(given)})")
        context.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation', e => "
            "window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        expected = ("401", "404")  # a key asked for, an id of another tenant: said on purpose

        def console(message: Any) -> None:
            if message.type == "error" and not any(s in message.text for s in expected):
                problems.append(f"console: {message.text}")

        page.on("console", console)
        origin = url or served["url"]

        def request(asked: Any) -> None:  # the page asks its own server, nothing else
            if not asked.url.startswith((origin + "/", "data:")):
                problems.append(f"request elsewhere: {asked.url}")

        page.on("request", request)
        page.goto((url or served["url"]) + "/" + (f"#/{hash}" if hash else ""))
        return page

    open_.problems = problems  # type: ignore[attr-defined]
    yield open_
    for context in contexts:
        for page in context.pages:
            violations = page.evaluate("window.__violations")
            problems.extend(f"CSP violation: {v}" for v in violations)
        context.close()
    assert problems == []


def until(page: Any, condition: str) -> None:
    """Wait until the JavaScript `condition` holds (as a function: the page's CSP forbids
    Playwright's evaluating a bare expression string)."""
    page.wait_for_function(f"() => {condition}")


def shot(page: Any, name: str, *, top: bool = True) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        if top:
            page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def ids(page: Any, selector: str = "article.hit") -> list[int]:
    return [
        int(i) for i in page.locator(selector).evaluate_all("els => els.map(e => e.dataset.id)")
    ]


def test_search_as_you_type_with_filters_marks_words_and_shows_ranks(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice = served["alice"]
    page = open_page("search")
    page.locator("#q:focus").wait_for()  # the box has the focus from the start
    page.keyboard.type("database locked", delay=30)
    page.locator("article.hit").first.wait_for()
    until(page, "location.hash.includes('q=database+locked')")
    until(page, "document.querySelector('.status').textContent.includes('memor')")
    expected = [h["exchange_id"] for h in alice.get("/v1/search", q="database locked")]
    assert ids(page) == expected
    marked = {m.lower() for m in page.locator("article.hit mark").all_inner_texts()}
    assert marked <= {"database", "locked"} and marked == {"database", "locked"}
    assert "verbatim BM25 #" in page.locator("article.hit .ranks").first.inner_text()
    shot(page, "search")
    # Filters: a mode with one layer, a project, a day; each the API's answer for the same.
    page.locator("details.filters summary").click()
    page.select_option("#mode", "distilled-bm25")
    until(page, "location.hash.includes('mode=distilled-bm25')")
    until(page, "!document.querySelector('.ranks')?.textContent.includes('verbatim')")
    one_layer = alice.get("/v1/search", q="database locked", mode="distilled-bm25")
    assert ids(page) == [h["exchange_id"] for h in one_layer]
    page.select_option("#mode", "verbatim-bm25+distilled-vector")
    page.select_option("#project", "tidewater")
    until(page, "location.hash.includes('project=tidewater')")
    page.locator("#since").fill("2026-03-03")
    page.locator("#until").fill("2026-03-03")
    until(page, "location.hash.includes('until=2026-03-03')")
    page.wait_for_timeout(400)
    filtered = alice.get("/v1/search", q="database locked", project="tidewater",
                         since="2026-03-03T00:00:00Z", until="2026-03-04T00:00:00Z")  # fmt: skip
    assert ids(page) == [h["exchange_id"] for h in filtered] and len(filtered) == 1
    page.locator("#file").fill("db.py")
    until(page, "location.hash.includes('file=db.py')")
    page.wait_for_timeout(400)
    by_file = alice.get("/v1/search", q="database locked", project="tidewater", file="db.py",
                        since="2026-03-03T00:00:00Z", until="2026-03-04T00:00:00Z")  # fmt: skip
    assert ids(page) == [h["exchange_id"] for h in by_file]
    # The address holds the search: opening it again shows the same.
    again = open_page(page.url.split("#/", 1)[1])
    again.locator("article.hit").first.wait_for()
    assert ids(again) == ids(page)


def test_a_hit_opens_as_a_chat_with_its_place_and_history(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice = served["alice"]
    query = "database locked WAL readers"
    hits = alice.get("/v1/search", q=query)
    # A hit of the Claude Code session with tool calls and an exchange after it.
    target = next(h["exchange_id"] for h in hits
                  if h["conversation_id"] == SESSION.stem and "Bash" in json.dumps(
                      alice.get(f"/v1/exchanges/{h['exchange_id']}")["messages"])
                  and alice.get(f"/v1/exchanges/{h['exchange_id']}/place")["next"])  # fmt: skip
    page = open_page("search?q=" + query.replace(" ", "+"))
    page.locator(f"article.hit[data-id='{target}'] a.core").click()
    page.wait_for_url(f"**/#/x/{target}*")
    exchange = alice.get(f"/v1/exchanges/{target}")
    place = alice.get(f"/v1/exchanges/{target}/place")
    page.locator("section.turn.prompt").wait_for()
    prompt = next(m for m in exchange["messages"] if m["kind"] == "prompt")["text"]
    assert page.locator("section.turn.prompt pre").inner_text().strip() == prompt.strip()
    calls = sum(1 for m in exchange["messages"] if m["kind"] == "tool_call")
    assert calls and page.locator("details.tool").count() == calls
    assert page.locator("details.tool[open]").count() == 0  # folded
    page.locator("details.tool summary").first.click()
    assert "result" in page.locator("details.tool").first.inner_text().lower()
    # The reply is Markdown: its code blocks highlighted, its lists as lists.
    assert page.locator(".markdown code").count() > 0
    assert page.locator(".markdown strong, .markdown li").count() > 0
    assert "history" in page.locator("details.history-box summary").inner_text()
    page.locator("details.history-box summary").click()
    assert "created" in page.locator("ol.history").inner_text()
    steps = page.locator("nav.steps").inner_text()
    assert f"exchange {place['position']} of {place['of']}" in steps
    shot(page, "exchange")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/#/x/{place['next']}*")
    page.locator("section.turn.prompt").wait_for()
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/#/x/{target}*")
    # The whole conversation, a click away, at this exchange.
    page.locator("nav.steps a", has_text="exchange").click()
    page.locator("section.exchange.focused").wait_for()
    assert page.locator("section.exchange").count() == place["of"]
    assert page.locator("section.exchange.focused").get_attribute("id") == f"x{target}"
    shot(page, "conversation", top=False)


def test_long_tool_output_is_collapsed_until_asked(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    page = open_page("c/c6d93b34-4d30-49de-b6d9-07f35d4ccea7")
    page.locator("section.exchange").first.wait_for()
    for details in page.locator("details.tool").all():
        details.locator("summary").click()
    more = page.locator("button.more")
    assert more.count() > 0, "the session has long tool outputs: they show collapsed"
    block = more.first.locator("xpath=..").locator("pre")
    before = len(block.inner_text())
    more.first.click()
    assert len(block.inner_text()) > before


def test_rooms_with_their_sizes_and_a_rooms_exchanges_in_order(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice = served["alice"]
    rooms = alice.get("/v1/rooms", project="/home/sam/tidewater")
    page = open_page("rooms?project=" + "/home/sam/tidewater".replace("/", "%2F"))
    page.locator("table.rooms tbody tr").first.wait_for()
    rows = page.locator("table.rooms tbody tr")
    assert rows.count() == len(rooms)
    sizes = [int(s) for s in page.locator("td.size").all_inner_texts()]
    assert sizes == [r["exchanges"] for r in rooms]
    shot(page, "rooms")
    page.locator("table.rooms tbody a").first.click()
    page.locator("article.hit").first.wait_for()
    room = alice.get(f"/v1/rooms/{rooms[0]['key']}", project="/home/sam/tidewater")
    assert ids(page) == [h["exchange_id"] for h in room]
    times = page.locator("article.hit time").evaluate_all("els => els.map(e => e.dateTime)")
    assert times == sorted(times)
    shot(page, "room")


def test_a_timeline_by_day_and_a_days_exchanges(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice = served["alice"]
    days = alice.get("/v1/timeline", project="tidewater", tz="UTC")
    page = open_page("timeline?project=tidewater")
    page.locator("ol.days li").first.wait_for()
    assert page.locator("ol.days li").count() == len(days)
    assert page.locator("svg.chart rect").count() >= len(days)
    shot(page, "timeline")
    page.locator("ol.days li a[data-item]").last.click()  # the oldest day
    page.locator("article.hit").first.wait_for()
    first = alice.get("/v1/exchanges", project="tidewater", since=f"{days[0]['day']}T00:00:00Z",
                      until=f"{days[1]['day']}T00:00:00Z")  # fmt: skip
    assert ids(page) == [h["exchange_id"] for h in first] and len(first) == days[0]["exchanges"]


def test_refine_dry_run_as_the_cli_prints_it_then_apply_and_restore(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice = served["alice"]
    basil = alice.get("/v1/search", q="how often do I water basil", k=1)[0]["exchange_id"]
    assert alice.post("/v1/feedback", {"ids": [basil], "useful": False}).status_code == 200
    page = open_page("refine")
    page.locator("input[name=rules][value=merge]").uncheck()
    page.locator("input[name=rules][value=supersede]").uncheck()
    page.locator("input[name=min_freq]").fill("1")
    page.locator("#dry-run").click()
    page.locator("table.refine tbody tr").first.wait_for()
    rows = [r.split("\t") for r in page.locator("table.refine tbody tr").all_inner_texts()]
    assert [row[:2] for row in rows] == [["prune", f"[{basil}]"]]
    summary = page.locator("p.summary").inner_text()
    # The CLI's dry run over the same store says the same, row and summary.
    flags = ["--dry-run", "--rule", "prune", "--min-freq", "1", "--tenant", "alice"]
    cli = CliRunner().invoke(cli_app, ["refine", *flags, "--store", str(served["store"])])
    assert cli.exit_code == 0, cli.output
    line = next(x for x in cli.output.splitlines() if x.startswith("prune"))
    assert line.split()[:2] == ["prune", f"[{basil}]"] and line.endswith(rows[0][3])
    assert summary in cli.output.replace("\n", " ")
    shot(page, "refine")
    apply = page.locator("#apply")
    apply.click()  # asks first
    assert "Click again" in apply.inner_text()
    assert alice.get(f"/v1/exchanges/{basil}/place")["status"] == "active"
    apply.click()
    until(page, "document.querySelector('p.summary')?.textContent.startsWith('Took 1')")
    assert alice.get(f"/v1/exchanges/{basil}/place")["status"] == "pruned"
    found = [h["exchange_id"] for h in alice.get("/v1/search", q="water basil")]
    assert basil not in found
    card = page.locator(f"article.hit[data-id='{basil}']")
    assert "pruned" in card.inner_text() and re.search(r"served \d+ times", card.inner_text())
    shot(page, "refined")
    card.locator("button", has_text="Restore").click()
    until(page, f"document.querySelector('#toast').textContent.startsWith('Restored [{basil}]')")
    until(page, f"!document.querySelector(`article.hit[data-id='{basil}']`)")
    assert alice.get(f"/v1/exchanges/{basil}/place")["status"] == "active"
    assert basil in [h["exchange_id"] for h in alice.get("/v1/search", q="water basil")]


def test_forget_shows_what_goes_and_deletes_only_after_confirmation(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice = served["alice"]
    target = alice.get("/v1/exchanges", conversation="oops")[0]["exchange_id"]
    page = open_page("forget")
    page.locator("input[name=text]").fill("HUNTER2")
    page.locator("#preview").click()
    page.locator("ul.targets li").first.wait_for()
    assert page.locator("ul.targets li").count() == 1
    assert f"[{target}]" in page.locator("ul.targets").inner_text()
    assert "1 exchange will be deleted for good" in page.locator("p.warning").inner_text()
    go = page.locator("#forget-confirm")
    assert go.is_disabled()  # nothing goes before the box is ticked
    assert alice.get(f"/v1/exchanges/{target}")["memory"]["exchange_id"] == target
    shot(page, "forget")
    page.locator("#sure").check()
    go.click()
    until(page, "document.querySelector('p.summary')?.textContent.startsWith('Forgot 1')")
    assert alice.get(f"/v1/exchanges/{target}").status_code == 404
    assert alice.post("/v1/forget/preview", {"text": "hunter2"}).status_code == 404
    assert all("hunter2" not in h["exchange_core"]
               for h in alice.get("/v1/search", q="password hunter2"))  # fmt: skip
    # Opened from an exchange (#/forget?ids=N), the preview shows at once.
    other = alice.get("/v1/exchanges", conversation="c4")[0]["exchange_id"]
    page = open_page(f"forget?ids={other}")
    page.locator("ul.targets li").wait_for()
    assert f"[{other}]" in page.locator("ul.targets").inner_text()
    assert alice.get(f"/v1/exchanges/{other}")["memory"]["exchange_id"] == other


def test_an_exchange_full_of_html_and_script_is_rendered_inert(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice = served["alice"]
    target = alice.get("/v1/exchanges", conversation="inject")[0]["exchange_id"]
    checks = """() => {
        const main = document.querySelector('main');
        const handlers = [...document.querySelectorAll('*')].flatMap(
            el => [...el.attributes].filter(a => a.name.startsWith('on')).map(a => a.name));
        return {
            pwned: window.__pwned ?? null,
            scripts: document.querySelectorAll('script').length,
            foreign: [...main.querySelectorAll('article.hit, .chat')].flatMap(part => [
                ...part.querySelectorAll('img, iframe, svg, style, object, embed, form, input')
            ]).length,
            handlers,
            jsLinks: [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '')
                .filter(href => href.trim().toLowerCase().startsWith('javascript')).length,
            text: main.innerText,
            display: getComputedStyle(document.body).display,
        };
    }"""
    views = {
        "search": ("search?q=zebrafish", "article.hit"),
        "exchange": (f"x/{target}?q=zebrafish", "section.turn.prompt"),
        "conversation": ("c/inject", "section.exchange"),
    }
    for name, (hash, ready) in views.items():
        page = open_page(hash)
        page.locator(ready).first.wait_for()
        for summary in page.locator("details summary").all():
            summary.click()  # every fold open: the tool call and its result too
        page.wait_for_timeout(300)
        seen = page.evaluate(checks)
        assert seen["pwned"] is None, name
        assert seen["scripts"] == 1, name  # the page's own module only
        assert seen["foreign"] == 0 and seen["handlers"] == [] and seen["jsLinks"] == 0, name
        assert seen["display"] != "none", name
        assert "<script>" in seen["text"], f"{name}: the markup shows as text"
        if name == "exchange":
            assert "<img src=x" in seen["text"] and "window.__pwned" in seen["text"]
            assert page.locator(".markdown strong", has_text="real bold").count() == 1
            code = page.locator(".markdown pre code").inner_text()
            assert '<script>window.__pwned = "code"</script>' in code
            highlighted = page.locator(".markdown pre code.language-html span[class*=hljs-]")
            assert highlighted.count() > 0  # the fenced block, highlighted as HTML
            assert page.locator(".markdown a", has_text="[image: a picture]").count() == 1
            link = page.locator(".markdown a", has_text="a markdown link")
            assert link.count() == 1 and link.get_attribute("href") is None
            shot(page, "injection")
    # The policy itself: no string becomes HTML outside DOMPurify, no inline script runs.
    guarded = page.evaluate("""() => {
        let html = 'allowed';
        try { document.body.innerHTML = '<b>x</b>'; } catch (e) { html = e.name; }
        const script = document.createElement('script');
        try { script.append('window.__inline = 1'); document.head.append(script); } catch {}
        return { html, inline: window.__inline ?? null };
    }""")
    assert guarded == {"html": "TypeError", "inline": None}
    page.wait_for_timeout(300)  # (violation reports are queued)
    page.evaluate("window.__violations = []")  # those were refused on purpose
    open_page.problems.clear()


def test_a_tenants_key_shows_only_that_tenant(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    alice_id = served["alice"].get("/v1/exchanges", conversation="c1")[0]["exchange_id"]
    page = open_page("search", key=None)  # a browser that has no key yet
    dialog = page.locator("#key-dialog")
    dialog.wait_for()
    shot(page, "key")
    page.locator("#key-input").fill("mdk_not-a-key")
    page.locator("#key-form button[type=submit]").click()
    until(page, "document.querySelector('#key-error').textContent.includes('unknown')")
    page.locator("#key-input").fill(served["bob_key"])
    page.locator("#key-form button[type=submit]").click()
    page.locator("#q").wait_for()
    assert not dialog.is_visible()
    options = page.locator("#project option").all_inner_texts()
    assert options == ["all projects", "kitchen"]
    # Alice's words find only bob's own memories (vectors always find the nearest).
    page.locator("#q").fill("importer crashes latin-1 NOAA CSV")
    until(page, "location.hash.includes('NOAA') && !!document.querySelector('article.hit')")
    shown = page.locator("article.hit").all_inner_texts()
    assert shown and all("latin-1" not in text for text in shown)
    assert set(page.locator("article.hit .project").all_inner_texts()) == {"kitchen"}
    page.goto(f"{served['url']}/#/x/{alice_id}")
    page.locator("main .error").wait_for()
    assert f"no exchange {alice_id}" in page.locator("main .error").inner_text()
    page.goto(f"{served['url']}/#/rooms")
    page.locator("h1.title").wait_for()
    room_projects = page.locator("td.project").all_inner_texts()
    assert set(room_projects) <= {"kitchen"}
    page.goto(f"{served['url']}/#/stats")
    page.locator(".figure").first.wait_for()
    assert page.locator(".figure .value").first.inner_text() == "2"
    # The key stays in this browser: a reload asks for nothing.
    page.reload()
    page.locator(".figure").first.wait_for()
    assert not dialog.is_visible()


def test_stats_with_a_plot_of_the_distribution(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    stats = served["alice"].get("/v1/stats")
    page = open_page("stats")
    page.locator(".figure").first.wait_for()
    assert page.locator(".figure .value").first.inner_text() == f"{stats['exchanges']:,}"
    assert f"{stats['compression']:.1f}×" in page.locator(".figures").inner_text()
    assert page.locator("svg.chart rect").count() == 24
    shot(page, "stats")
    page.select_option("select[aria-label=distribution]", "verbatim_tokens")
    assert "verbatim tokens" in page.locator("svg.chart title").first.inner_html()


def test_the_keyboard_moves_through_hits_and_back(
    open_page: Callable[..., Any], served: dict[str, Any]
) -> None:
    page = open_page("search")
    page.locator("#q").wait_for()
    page.locator("h1, main").first.click()  # focus away from the box
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("docker port")
    page.locator("article.hit").nth(1).wait_for()
    hits = ids(page)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.closest('article.hit')?.dataset.id")
    assert int(focused) == hits[1]
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/#/x/{hits[1]}*")
    page.locator("section.turn.prompt").wait_for()
    page.keyboard.press("Escape")
    page.locator("article.hit").first.wait_for()
    assert page.locator("#q").input_value() == "docker port"


def test_the_page_fits_a_phone(open_page: Callable[..., Any], served: dict[str, Any]) -> None:
    target = served["alice"].get("/v1/search", q="WAL mode readers", k=1)[0]["exchange_id"]
    views = [("search?q=WAL+mode+readers", "article.hit", "phone-search"),
             (f"x/{target}", "section.turn.prompt", "phone-exchange"),
             ("rooms", "table.rooms", None), ("stats", ".figure", None)]  # fmt: skip
    for hash, ready, name in views:
        page = open_page(hash, viewport=PHONE)
        page.locator(ready).first.wait_for()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{hash} is {overflow}px wider than a phone"
        if name:
            shot(page, name)


def test_memdistill_ui_serves_the_page_on_loopback_without_a_key_and_opens_it(
    open_page: Callable[..., Any], served: dict[str, Any], tmp_path: Path
) -> None:
    opened = tmp_path / "opened"
    fake_browser = tmp_path / "browser"  # $BROWSER: what `ui` opens, instead of a real one
    fake_browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake_browser.chmod(0o755)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "memdistill.cli", "ui", "--port", str(port), "--tenant", "bob",
         "--store", str(served["store"])],
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "BROWSER": str(fake_browser), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not opened.exists() or not opened.read_text().strip():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "memdistill ui did not open the page"
            time.sleep(0.2)
        url = opened.read_text().strip()
        assert url == f"http://127.0.0.1:{port}/"
        page = open_page("stats", key=None, url=url.rstrip("/"))
        page.locator(".figure").first.wait_for()
        assert not page.locator("#key-dialog").is_visible()
        assert page.locator(".figure .value").first.inner_text() == "2"  # bob's
        busy = subprocess.run([sys.executable, "-m", "memdistill.cli", "ui", "--port", str(port),
                               "--no-browser", "--store", str(served["store"])],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert busy.returncode == 1 and f"port {port}" in busy.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)
