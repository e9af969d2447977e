"""What Claude Code runs as memdistill's hook:
`python -m memdistill.capture.hook_run claude-code --store STORE`.

Claude Code waits for a hook's command, shows its failures, and for `Stop` reads exit code
2 as "keep working". So the command reads the event's JSON, starts a detached process
(its own session: it outlives Claude Code closing, and a hook timeout does not kill it)
that ingests the session, and exits 0 within a fraction of a second, whatever happened
(this module imports only the standard library and memdistill.config until the detached
part needs more: Stop fires after every reply).
Every run, and every problem, is one line in `<store>/logs/hooks.log` (rotated at 1 MB).

The detached process queues behind any other automatic ingest of the store
(`ingesting.capture_lock`), skips the work when the transcript is stored as it is, and
ingests the transcript with its `subagents/` folder (Claude Code 2.1 keeps them beside
it as `<session>/subagents/agent-*.jsonl`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from memdistill.config import DEFAULT_TENANT

AGENT = "claude-code"
MODULE = "memdistill.capture.hook_run"
LOG_NAME = "hooks.log"
LOG_BYTES = 1_000_000
MAX_INPUT = 1_000_000  # a hook's JSON is a few hundred bytes


def log_path(store: Path) -> Path:
    return store / "logs" / LOG_NAME


def command(store: Path, tenant: str = DEFAULT_TENANT, *, foreground: bool = False) -> list[str]:
    """This interpreter running the hook, the store spelt out: Claude Code's environment
    may have neither our PATH nor MEMDISTILL_HOME."""
    words = [sys.executable, "-m", MODULE, AGENT, "--store", str(store)]
    words += ["--tenant", tenant] if tenant != DEFAULT_TENANT else []
    return words + (["--foreground"] if foreground else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description="memdistill's hook: ingest the session"
    )
    parser.add_argument("agent", choices=[AGENT])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--tenant", default=DEFAULT_TENANT)
    parser.add_argument("--foreground", action="store_true", help="ingest now, not detached")
    args = parser.parse_args(argv)
    if sys.stdin.isatty():
        print(f"{parser.prog}: Claude Code runs this with the hook event's JSON on stdin, e.g. "
              f"echo '{{\"transcript_path\": \"...\"}}' | {parser.prog} {AGENT} --store DIR",
              file=sys.stderr)  # fmt: skip
        return 1
    data = sys.stdin.buffer.read(MAX_INPUT + 1)
    store = args.store.expanduser().absolute()
    if args.foreground:
        ingest_session(data, store, args.tenant)
    else:
        hand_over(data, store, args.tenant)
    return 0


def hand_over(stdin: bytes, store: Path, tenant: str = DEFAULT_TENANT) -> None:
    """The hook itself: check the event, start the ingest detached, return. Never raises."""
    log = _logger(store)
    try:
        event = _event(stdin)
        with open(log_path(store), "ab") as errors:  # a crash before logging starts lands here
            child = subprocess.Popen(
                command(store, tenant, foreground=True),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                close_fds=True,
                **_detached(),
            )
        assert child.stdin is not None
        child.stdin.write(json.dumps(event).encode())
        child.stdin.close()
    except _Skip as reason:
        log.info("%s", reason)
    except Exception:  # a hook must not fail visibly: say it in the log, exit 0
        log.exception("hook hand-over failed")


def ingest_session(stdin: bytes, store: Path, tenant: str = DEFAULT_TENANT) -> None:
    """The detached part: ingest the event's transcript into the store. Never raises."""
    log = _logger(store)
    started = time.perf_counter()
    try:
        event = _event(stdin)
        transcript = Path(event["transcript_path"])
        files = [transcript, *_subagents(transcript)]
        name = event.get("hook_event_name", "?")
        session = event.get("session_id", transcript.stem)
        from memdistill.api import Memory
        from memdistill.capture.ingesting import all_unchanged, capture_lock

        with capture_lock(store), Memory.open(store, tenant=tenant) as memory:
            if all_unchanged(memory.store, memory.tenant, files):
                log.info("%s session %s: unchanged (%s)", name, session, transcript)
                return
            report = memory.ingest(files)
        log.info(
            "%s session %s: %d exchanges added, %d updated, %d files (%d unchanged, %d failed) "
            "in %.1f s (%s)",
            name, session, report.exchanges_added, report.exchanges_updated, report.files,
            report.files_unchanged, report.files_failed, time.perf_counter() - started,
            transcript,
        )  # fmt: skip
        for problem in report.problems[:20]:
            log.warning("  %s", problem)
    except _Skip as reason:
        log.info("%s", reason)
    except Exception:
        log.exception("hook ingest failed")


class _Skip(Exception):
    """Nothing to do for this event (said in the log, not an error)."""


def _event(stdin: bytes) -> dict[str, Any]:
    if len(stdin) > MAX_INPUT:
        raise _Skip(f"hook input of {len(stdin)} bytes ignored: Claude Code sends a few hundred")
    try:
        event = json.loads(stdin.decode("utf-8", errors="replace") or "null")
    except json.JSONDecodeError as exc:
        raise _Skip(f"hook input is not JSON ({exc}): {stdin[:200]!r}") from None
    if not isinstance(event, dict) or not isinstance(event.get("transcript_path"), str):
        raise _Skip(f"hook input names no transcript_path: {stdin[:200]!r}")
    path = Path(event["transcript_path"]).expanduser()
    if not path.is_file():
        raise _Skip(f"{event.get('hook_event_name', '?')}: no transcript at {path}")
    return {**event, "transcript_path": str(path)}


def _subagents(transcript: Path) -> list[Path]:
    folder = transcript.with_suffix("") / "subagents"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _detached() -> dict[str, Any]:
    if os.name == "nt":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS  # type: ignore[attr-defined]
        return {"creationflags": flags}
    return {"start_new_session": True}


def _logger(store: Path) -> logging.Logger:
    """The store's hook log (created with the store folder if need be)."""
    log = logging.getLogger("memdistill.hooks")
    if not log.handlers:
        log.setLevel(logging.INFO)
        log.propagate = False  # nothing on Claude Code's screen
        try:
            path = log_path(store)
            path.parent.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = RotatingFileHandler(
                path, maxBytes=LOG_BYTES, backupCount=1, encoding="utf-8"
            )
        except OSError:  # no log to be had (a read-only store): still never fail the hook
            handler = logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        log.addHandler(handler)
    return log


if __name__ == "__main__":
    sys.exit(main())
