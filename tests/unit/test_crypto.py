"""Secrets at rest: encrypted with Fernet, key made once with owner-only mode."""

import stat
from pathlib import Path

import pytest

from textcast.config import Settings
from textcast.crypto import SecretBox, load_secret_box, mask
from textcast.errors import TextcastError


def test_generated_key_is_reused_and_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    box = load_secret_box(settings)
    token = box.encrypt({"auth_token": "s3cr3t-value"})
    assert "s3cr3t" not in token
    assert load_secret_box(settings).decrypt(token) == {"auth_token": "s3cr3t-value"}
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_wrong_key_gives_a_clear_error(tmp_path: Path) -> None:
    token = load_secret_box(Settings(data_dir=tmp_path / "a")).encrypt("x")
    with pytest.raises(TextcastError, match="cannot be decrypted"):
        load_secret_box(Settings(data_dir=tmp_path / "b")).decrypt(token)


def test_mask_shows_only_the_last_four_characters() -> None:
    assert mask("abcdef0123456789") == "••••••••6789"
    assert mask("short") == "••••••••"
    key = b"A" * 43 + b"="
    assert key.decode() not in repr(SecretBox(key))
