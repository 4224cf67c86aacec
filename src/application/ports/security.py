"""Ports for secrets at rest and API key hashing."""

from typing import Protocol


class SecretCipher(Protocol):
    """Authenticated encryption of secrets at rest (AES-256-GCM in production)."""

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes, *, context: bytes) -> bytes: ...


class SecretHasher(Protocol):
    """Slow salted hash for API key secrets; verification is constant time."""

    def hash(self, secret: str) -> bytes: ...

    def verify(self, secret: str, encoded_hash: bytes) -> bool: ...
