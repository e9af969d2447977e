"""The LLM distiller's command-line options, shared by `ingest` and `distill`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from memdistill.errors import ConfigError

_LLM = "LLM distiller"
DistillerOpt = Annotated[
    str, typer.Option("--distiller", help="offline (default, no network) or llm.")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="LLM model name.", rich_help_panel=_LLM)
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="OpenAI-compatible endpoint (default OpenAI; Ollama: http://localhost:11434/v1).",
        rich_help_panel=_LLM,
    ),
]
ApiKeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key-env",
        help="Variable holding the API key (default OPENAI_API_KEY; '' or unset: none needed).",
        rich_help_panel=_LLM,
    ),
]
TemperatureOpt = Annotated[
    float | None, typer.Option("--temperature", help="Default 0.", rich_help_panel=_LLM)
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", help="Seconds per request (default 60).", rich_help_panel=_LLM),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", help="Requests in flight (default 4).", rich_help_panel=_LLM),
]
PriceInOpt = Annotated[
    float | None,
    typer.Option(
        "--price-in", help="USD per million prompt tokens, for the estimate.", rich_help_panel=_LLM
    ),
]
PriceOutOpt = Annotated[
    float | None,
    typer.Option("--price-out", help="USD per million completion tokens.", rich_help_panel=_LLM),
]

# The parameter names of the options above, as LLMSettings fields.
LLM_FLAGS = ("model", "base_url", "api_key_env", "temperature", "timeout", "concurrency",
             "price_in", "price_out")  # fmt: skip


def distiller_options(distiller: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The LLM flags given among a command's `arguments` (its locals()), checked against
    the distiller they configure."""
    given = {name: arguments[name] for name in LLM_FLAGS if arguments.get(name) is not None}
    if given and distiller != "llm":
        names = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(f"{names} configure the LLM distiller: add --distiller llm")
    return given
