"""The LLM distiller's settings: flags over environment over the store's config file.

    # <store>/config.toml
    [llm]
    model = "gpt-4o-mini"
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"
    concurrency = 4
    price_in = 0.15     # USD per million prompt tokens, for the cost estimate
    price_out = 0.60

Environment: MEMDISTILL_LLM_MODEL, MEMDISTILL_LLM_BASE_URL, ... (the key in capitals).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memdistill.config import CONFIG_NAME, config_table, with_values
from memdistill.errors import ConfigError

if TYPE_CHECKING:
    from memdistill.llm import Endpoint

ENV_PREFIX = "MEMDISTILL_LLM_"


@dataclass(frozen=True, slots=True)
class LLMSettings:
    model: str = ""
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"  # the variable holding the key, never the key
    temperature: float = 0.0
    timeout: float = 60.0  # seconds per request
    concurrency: int = 4  # requests in flight at once
    max_retries: int = 2  # after the first attempt; then the offline distiller stands in
    max_input_chars: int = 12_000  # longer exchanges are cut in the middle
    max_tokens: int = 400  # per answer
    price_in: float | None = None  # USD per million prompt tokens
    price_out: float | None = None  # USD per million completion tokens
    breaker: int = 8  # this many failures in a row: stop asking for the rest of the run

    def endpoint(self) -> Endpoint:
        from memdistill.llm import Endpoint

        return Endpoint(
            self.base_url,
            self.model,
            api_key_env=self.api_key_env,
            timeout=self.timeout,
            temperature=self.temperature,
            max_retries=self.max_retries,
        )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_in is None or self.price_out is None:
            return None
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / 1e6

    def checked(self, *, endpoint: bool = True) -> LLMSettings:
        """Raises ConfigError for settings that cannot work (`endpoint=False`: a LangChain
        chat model is asked instead, so the URL does not matter)."""
        if not self.model:
            raise ConfigError(
                "the LLM distiller needs a model: pass --model, set MEMDISTILL_LLM_MODEL, "
                f'or put model = "..." under [llm] in the store\'s {CONFIG_NAME}'
            )
        if endpoint and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--base-url must be an http(s) URL, not {self.base_url!r}")
        if self.concurrency < 1 or self.timeout <= 0 or self.max_retries < 0:
            raise ConfigError("concurrency must be >= 1, timeout > 0 and max-retries >= 0")
        return self


def load_settings(store_folder: Path | None = None, **flags: Any) -> LLMSettings:
    """Settings from the store's config file, then the environment, then `flags` (None
    values are ignored), each overriding the one before."""
    settings = LLMSettings()
    if store_folder is not None:
        settings = with_values(settings, config_table(store_folder, "llm"), CONFIG_NAME, "LLM")
    env = {
        f.name: os.environ[ENV_PREFIX + f.name.upper()]
        for f in fields(LLMSettings)
        if ENV_PREFIX + f.name.upper() in os.environ
    }
    settings = with_values(settings, env, "the environment", "LLM")
    given = {k: v for k, v in flags.items() if v is not None}
    return with_values(settings, given, "the flags", "LLM")
