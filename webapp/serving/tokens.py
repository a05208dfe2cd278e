"""API tokens: created by an engineer (the key is shown once), stored as SHA-256, revocable."""

from __future__ import annotations

import secrets

from django.utils import timezone

from webapp.serving.models import ApiToken, hash_token

PREFIX = "ftl_"


def create_token(name: str, user=None, rate_per_minute: int | None = None) -> tuple[ApiToken, str]:
    """A new token and its key (the only time the key exists outside the client)."""
    if not name.strip():
        raise ValueError("name the client the token is for")
    key = PREFIX + secrets.token_urlsafe(32)
    fields = {"rate_per_minute": rate_per_minute} if rate_per_minute else {}
    token = ApiToken.objects.create(name=name.strip(), prefix=key[:len(PREFIX) + 4], key_hash=hash_token(key),
                                    created_by=user, **fields)
    return token, key


def authenticate(key: str | None) -> ApiToken | None:
    """The active token of `key`, its last use noted; None for an unknown or revoked key."""
    if not key or not key.startswith(PREFIX):
        return None
    token = ApiToken.objects.filter(key_hash=hash_token(key), revoked_at__isnull=True).first()
    if token:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token
