"""AES-256-GCM for secrets at rest; the row id is bound in as associated data so a ciphertext
copied onto another row does not decrypt."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12


class SecretKeyError(ValueError):
    pass


class AesGcmSecretCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretKeyError("METACHAT_SECRET_KEY must decode to exactly 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    @classmethod
    def from_encoded_key(cls, encoded: str) -> AesGcmSecretCipher:
        try:
            key = base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4))
        except ValueError as error:
            raise SecretKeyError(
                "METACHAT_SECRET_KEY must be base64 (generate one with `metachat secret-key`)"
            ) from error
        return cls(key)

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, ciphertext: bytes, *, context: bytes) -> bytes:
        if not ciphertext.startswith(_VERSION):
            raise SecretKeyError("unknown secret format")
        nonce = ciphertext[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, ciphertext[1 + _NONCE_BYTES :], context)
        except InvalidTag as error:
            raise SecretKeyError("secret cannot be decrypted: wrong METACHAT_SECRET_KEY?") from error


def generate_encoded_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def load_or_create_key_file(path: Path) -> str:
    """Embedded mode: generate the key once and keep it readable by the owner only (0600)."""
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = generate_encoded_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(encoded + "\n")
    return encoded
