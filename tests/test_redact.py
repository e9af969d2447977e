"""Secrets are redacted before text leaves the machine; look-alikes survive."""

from __future__ import annotations

import pytest

from memdistill.redact import MARK, redact

# (text, the secret that must be gone, what must remain). The keys below are made up, in
# the shapes the providers publish.
SECRETS = [
    (
        "export OPENAI_API_KEY=sk-proj-Zx8kQ2mN4pR7tV1wY3aB5cD6eF9gH0jK",
        "sk-proj-Zx8kQ2",
        "export OPENAI_API_KEY=",
    ),
    ("key: sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "sk-ant-api03", "key: "),
    (
        "ANTHROPIC_API_KEY='sk-ant-admin01-qwertyuiopasdfghjklzxcvbnm'",
        "qwertyuiop",
        "ANTHROPIC_API_KEY=",
    ),
    (
        "git remote set-url origin https://ghp_R2d2C3poL8kX9mN4bV6cZ1aQ7wE5rT0yU3iO@github.com/a/b",
        "ghp_R2d2",
        "github.com/a/b",
    ),
    (
        "token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "github_pat_11",
        "token ",
    ),
    ("CI_TOKEN glpat-xY7zW8vU9tS0rQ1pO2nM", "glpat-", "CI_TOKEN"),
    ("SLACK=xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "xoxb-", "SLACK="),
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI",
        "aws_secret_access_key",
    ),
    ("maps key AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "AIzaSyA1b2", "maps key"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC3", "stripe"),
    ("HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "hf_AbCdEf", "HF_TOKEN="),
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0."
        "dBjftJeZ4CVPmB92K27uhbUJU1p1r",
        "eyJhbGci",
        "Authorization: Bearer",
    ),
    ("curl -H 'Authorization: token 0123456789abcdef0123'", "0123456789abcdef0123", "curl -H"),
    ("DATABASE_URL=postgres://app:Pa55w0rd!@db.internal:5432/prod", "Pa55w0rd", "postgres://app:"),
    ("redis://:hunter2secret@cache:6379", "hunter2secret", "@cache:6379"),
    ("DB_PASSWORD=Tr0ub4dor&3", "Tr0ub4dor", "DB_PASSWORD="),
    ('{"client_secret": "9f8e7d6c5b4a3f2e1d0c"}', "9f8e7d6c5b4a", '"client_secret"'),
    ("password: hunter2", "hunter2", "password:"),
    ("SECRET_KEY = 'django-insecure-x9#kq!2mz'", "django-insecure", "SECRET_KEY"),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
        "QyNTUxOQAAACDx\n-----END OPENSSH PRIVATE KEY-----\nthen ssh-add",
        "b3BlbnNzaC1r",
        "then ssh-add",
    ),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x (truncated log", "MIIEowIBAAK", ""),
    ("password=correcthorsebatterystaple", "correcthorse", "password="),
    ("PASSWORD=Summer", "Summer", "PASSWORD="),
    ("redis://:mysecretpassword@cache:6379", "mysecretpassword", "@cache"),
    ("https://user:pass@host/x", ":pass@", "https://user:"),
    ("mysql --password hunter22 -h db", "hunter22", "-h db"),
    ("db_pass=S3cr3tVal", "S3cr3tVal", "db_pass="),
    ("docker login -p dckr_pat_AbCdEfGhIjKlMnOpQrStUv", "dckr_pat_AbCd", "docker login"),
    (
        "DefaultEndpointsProtocol=https;AccountKey=abcdefghijklmnopqrstuvwxyz0123==",
        "abcdefghij",
        ";",
    ),
    ("SENDGRID=SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzABCDEFGH", "SG.abcdef", "="),
]

# Text that looks like a secret and is not: it must come back unchanged.
LOOK_ALIKES = [
    "pip install scikit-learn; import sklearn  # sk-learn",
    "commit 3f2a9c1d4e5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f",
    "id 550e8400-e29b-41d4-a716-446655440000",
    "PASSWORD_MIN_LENGTH=8",
    "tokenizer=bert-base-uncased",
    "max_tokens=1024",
    "API_KEY=${API_KEY}",
    "api_key = os.environ['OPENAI_API_KEY']",
    "OPENAI_API_KEY=<your-key-here>",
    "password: forgotten, so I reset it",
    "the secret: understanding recursion",
    "https://user@example.com/path and mail bob@example.com",
    "postgres://localhost:5432/app",
    "task-1234567890abcdefghijk in the tracker",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "see docs/tokens.md and set TOKEN_TTL=3600",
    "git checkout -b fix/skip-token-refresh",
    "client = OpenAI(api_key=api_key)",
    "password=password",
    "token = get_token()",
    "api_key = settings.api_key",
    "def f(token: Optional[str]) -> None:",
    "PWD=/home/u/proj",
    "credentials: ~/.aws/credentials",
    "SECRET_KEY=$(openssl rand -hex 32)",
    "pip install sk-video-processing-toolkit-v2",
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_secrets_are_redacted(text: str, secret: str, kept: str) -> None:
    out, fired = redact(text)
    assert secret not in out and MARK in out and fired
    assert kept in out


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_survive(text: str) -> None:
    assert redact(text) == (text, [])


def test_redaction_is_idempotent() -> None:
    once, _ = redact(SECRETS[0][0] + "\n" + SECRETS[14][0])
    assert redact(once) == (once, [])
