"""Salted scrypt hashes for API key secrets."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_PREFIX = b"scrypt$"


class ScryptSecretHasher:
    """scrypt costs ~30 ms on purpose; a verified (hash, secret) pair is remembered so a busy key does
    not pay it on every request. The cache only memoises the pure function: revocation and expiry are
    still read from the database each time."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def hash(self, secret: str) -> bytes:
        salt = os.urandom(16)
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
        return _PREFIX + salt + digest

    def verify(self, secret: str, encoded_hash: bytes) -> bool:
        if not encoded_hash.startswith(_PREFIX):
            return False
        memo = hashlib.sha256(encoded_hash + b"\x00" + secret.encode()).digest()
        with self._lock:
            if memo in self._verified:
                self._verified.move_to_end(memo)
                return True
        salt = encoded_hash[len(_PREFIX) : len(_PREFIX) + 16]
        expected = encoded_hash[len(_PREFIX) + 16 :]
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
        if not hmac.compare_digest(digest, expected):
            return False
        with self._lock:
            self._verified[memo] = None
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return True
