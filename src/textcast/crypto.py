"""Secrets at rest: Fernet encryption with a key from settings or the data folder."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from textcast.config import Settings
from textcast.errors import TextcastError

KEY_FILE = "secret.key"


class SecretBox:
    """Encrypts and decrypts JSON-able values; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def digest(self, purpose: str, value: str) -> str:
        """A keyed hash of ``value`` (hex HMAC-SHA256 under a key derived from
        this box's key for ``purpose``): the same for the same value on this
        install, and no way back to the value without the key."""
        key = hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise TextcastError(
                "stored secrets cannot be decrypted: TEXTCAST_SECRET_KEY (or data/secret.key) "
                "is not the key they were written with"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def load_secret_box(settings: Settings) -> SecretBox:
    """The settings' key, else the data folder's, created (mode 0600) on first start."""
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value().encode())
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return SecretBox(path.read_bytes().strip())


def mask(value: str | None) -> str | None:
    """Show only enough of a secret to recognise it: the last four characters."""
    if not value:
        return value
    return "•" * 8 + value[-4:] if len(value) > 8 else "•" * 8
