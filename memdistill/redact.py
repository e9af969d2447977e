"""Redact secrets from text before it leaves the machine (the LLM distiller's prompts).

A table of patterns, each a known credential shape or a secret-bearing context (a private
key block, a password in a URL, `API_KEY=...` in a `.env` or shell line, an
`Authorization:` header). Look-alikes must survive: git SHAs, UUIDs, `sk-learn`,
`PASSWORD_MIN_LENGTH=8`, `${API_KEY}`, URLs without a password, e-mail addresses.

Hand-written rather than detect-secrets: that scanner flags whole lines of a repository
(its entropy plugins flag every git SHA and hash, which here must survive) and stops at a
private key's first line, while a prompt needs the secret's exact span replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARK = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]

    @property
    def in_context(self) -> bool:
        """A context rule marks its secret as the group `secret` (or `url`); the rest stays."""
        return bool({"secret", "url"} & set(self.pattern.groupindex))


def _rule(name: str, pattern: str, flags: int = 0) -> _Rule:
    return _Rule(name, re.compile(pattern, flags))


# Values that only name a secret: placeholders and references, not the secret itself.
_PLACEHOLDER = re.compile(
    r"^(\$\{?\w+\}?|<[^>]*>|\{\{.*\}\}|x{3,}|\*{3,}|\.{3}|changeme|your[-_\w]*|"
    r"(os\.)?(environ|getenv)\b.*|process\.env\..*|none|null|true|false|" + re.escape(MARK) + r")$",
    re.I,
)

RULES: tuple[_Rule, ...] = (
    _rule(
        "private key",
        r"-----BEGIN ((RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY( BLOCK)?-----"
        r"[\s\S]*?(-----END ((RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY( BLOCK)?-----|\Z)",
    ),
    # Provider keys by their published prefixes.
    _rule("anthropic key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    # Real keys mix digits and capitals; "sk-video-processing-toolkit-v2" is a name.
    _rule("openai key", r"\bsk-(?=[\w-]*\d)(?=[\w-]*[A-Z])[A-Za-z0-9_-]{20,}"),
    _rule("github token", r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    _rule("gitlab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    _rule("slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    _rule("aws access key id", r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    _rule("google api key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    _rule("stripe key", r"\b[sr]k_(live|test)_[0-9A-Za-z]{16,}"),
    _rule("huggingface token", r"\bhf_[A-Za-z0-9]{30,}"),
    _rule("npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    _rule("pypi token", r"\bpypi-[A-Za-z0-9_-]{50,}"),
    _rule("docker token", r"\bdckr_pat_[A-Za-z0-9_-]{20,}"),
    _rule("sendgrid key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{20,}"),
    _rule("slack webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    _rule("azure account key", r"(?i:AccountKey)=(?P<secret>[A-Za-z0-9+/=]{20,})"),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # Contexts that say the value is secret.
    _rule("password in url", r"\b[a-z][a-z0-9+.-]*://[^\s:/@]*:(?P<url>[^\s@/]+)@", re.I),
    _rule(
        "password option",
        r"(?<![\w-])--(password|passwd|token|api-key|secret)[= ](?P<secret>[^\s\"']{4,}|"
        r"\"[^\"]+\"|'[^']+')",
        re.I,
    ),
    _rule(
        "authorization header",
        r"\b(authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?(bearer|basic|token)\s+"
        r"(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
        re.I,
    ),
    _rule(
        "secret assignment",
        # KEY=value, KEY: value, "key": "value", export KEY=value, where the key's name
        # ends in a secret's name (API_KEY, db_password; not tokenizer, not max_tokens).
        r"(?<![\w-])[\"']?[A-Za-z0-9_.-]*?(secret|token|passw(or)?d|pass|api[_-]?key|apikey|"
        r"access[_-]?key|secret[_-]?key|private[_-]?key|auth[_-]?key|credentials?)"
        r"[\"']?\s*(?P<sep>:=|:|=)\s*(?P<quote>[\"']?)(?P<secret>[^\s\"',;})\]]{4,})",
        re.I,
    ),
)


def redact(text: str) -> tuple[str, list[str]]:
    """The text with every secret replaced by MARK, and the names of the rules that fired."""
    fired: list[str] = []
    for rule in RULES:

        def replace(match: re.Match[str], rule: _Rule = rule) -> str:
            if not rule.in_context:
                fired.append(rule.name)
                return MARK
            group = "url" if "url" in rule.pattern.groupindex else "secret"
            if not _looks_secret(match, group):
                return match.group(0)
            fired.append(rule.name)
            whole, offset = match.group(0), match.start()
            start, end = match.span(group)
            return whole[: start - offset] + MARK + whole[end - offset :]

        text = rule.pattern.sub(replace, text)
    return text, fired


# Code that names a secret without holding it: `api_key=api_key`, `settings.api_key`,
# `get_token()`, `Optional[str]`, `$(openssl rand -hex 32)`, a path.
_REFERENCE = re.compile(
    r"^([A-Za-z_][\w]*(\.[A-Za-z_]\w*)+|[A-Za-z_][\w.]*[(\[].*|\$\(.*|[~/.].*)$"
)


def _looks_secret(match: re.Match[str], group: str) -> bool:
    """A value in a secret's context, unless it is a placeholder, a number, a reference in
    code, or, after a colon in prose, a plain word ("password: forgotten" is prose;
    "password: hunter2" and "password=Summer" are not)."""
    value = match.group(group)
    if _PLACEHOLDER.match(value) or value.isdigit() or value.startswith(MARK[:-1]):
        return False
    if group == "url":
        return True
    groups = match.groupdict()
    quoted = bool(groups.get("quote"))
    if not quoted and _REFERENCE.match(value):
        return False
    if not quoted and "sep" in groups and value.isidentifier():
        key = match.group(0).split(groups["sep"] or "=")[0].strip("\"' ").lower()
        if value.lower() == key or value.lower().endswith("_" + key.split("_")[-1]):
            return False  # password=password, api_key=api_key
    if groups.get("sep") == ":" and not quoted:
        return not (value.isalpha() and (value.islower() or value.isupper() or value.istitle()))
    return True
