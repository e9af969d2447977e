"""One error hierarchy. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class MemdistillError(Exception):
    """Base of every error memdistill raises on purpose."""


class ConfigError(MemdistillError):
    """A setting, flag or environment variable is wrong."""


class FormatError(MemdistillError):
    """A source file is not in a format memdistill can read."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line


class StoreError(MemdistillError):
    """The memory store cannot be opened or would be made inconsistent."""


class EmbedderMismatchError(StoreError):
    """The store's vectors were made by another embedding model than the one asked for."""


class DependencyError(MemdistillError):
    """An optional dependency is missing; the message names the install command."""


class QueryError(MemdistillError):
    """A search request is malformed (unknown mode, bad filter)."""


class NotFoundError(MemdistillError):
    """An id or key names nothing in the store."""


class StateError(MemdistillError):
    """What was asked does not fit the thing's state (restoring a memory that is active)."""


class LLMError(MemdistillError):
    """An LLM endpoint gave no valid answer, after the retries where retrying could help.
    `usage` holds what the failed attempts cost, when the client counted it."""

    usage: object = None
    #: "answer": the server answered, badly (junk, cut short, invalid); "transport": it did
    #: not answer (timeouts, refused connections, 5xx); "config": it refused the request
    #: in a way no retry fixes (bad key, unknown model, wrong URL).
    kind: str = "config"
