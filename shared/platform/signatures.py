"""HMAC-SHA256 signatures, in (repository webhooks) and out (our notifications).

GitHub signs the raw body with the webhook secret and sends `X-Hub-Signature-256: sha256=<hex>`;
our outgoing webhooks use the same scheme over `<timestamp>.<body>` so a receiver can reject replays.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str | None, body: bytes, signature: str | None) -> bool:
    """True only when a secret is configured and the signature matches (constant-time compare)."""
    if not secret or not signature:
        return False
    # Bytes, not str: compare_digest refuses non-ASCII text, and a forged header may hold any.
    return hmac.compare_digest(sign(secret, body).encode("ascii"), signature.strip().encode("utf-8", "replace"))


def sign_timestamped(secret: str, timestamp: str, body: bytes) -> str:
    return sign(secret, timestamp.encode("ascii") + b"." + body)
