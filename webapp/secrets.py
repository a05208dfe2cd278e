"""Secrets come from the environment only (DESIGN §9): read at the point of use, never stored.

`secret()` is the one way code reads an API key or token. `redact()` is applied to
everything a run writes where people can read it (its log tail, its error, its
result) and to every log record, so a key echoed back by a remote service in an
error message does not end up in the database, the logs or a page.
"""

from __future__ import annotations

import logging
from typing import Any

from webapp.env import env_str

# Every environment variable that holds a secret; each also honours NAME_FILE.
SECRET_NAMES = ("MISTRAL_API_KEY", "HF_TOKEN", "WANDB_API_KEY", "FTLOOP_SECRET_KEY", "FTLOOP_ADMIN_PASSWORD",
                "FTLOOP_EMAIL_PASSWORD")
REDACTED = "[redacted]"
_MIN_LENGTH = 6  # shorter values would redact ordinary words


def secret(name: str) -> str | None:
    """The value of a secret variable (or its NAME_FILE), None when unset or empty."""
    if name not in SECRET_NAMES:
        raise ValueError(f"{name} is not a known secret; add it to webapp.secrets.SECRET_NAMES")
    return env_str(name) or None


def _values() -> list[str]:
    values = {value for name in SECRET_NAMES if (value := env_str(name)) and len(value) >= _MIN_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(value: Any) -> Any:
    """`value` (a string, or lists/dicts of them) with every secret value replaced by [redacted]."""
    if isinstance(value, str):
        for found in _values():
            value = value.replace(found, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secret values from the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
