"""Token signing keys: RSA keys generated on first use and kept as PEM files outside the
repository (`VARDNAV_KEY_DIR`). Rotation adds a key and signs with it; older keys stay in the
key set, so tokens they signed stay valid until they expire.

Several server processes share the directory: the first key is generated under a file lock
(so workers starting together agree on one), and a token signed with a key this process has
not seen yet (rotated by another process) makes it re-read the directory, at most every
`RELOAD_SECONDS` so unknown key ids cannot make every request read the disk.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"
RELOAD_SECONDS = 5.0


class KeyStore:
    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self._keys: list[RSAKey] = []
        self._loaded_at = 0.0
        self.key_dir.mkdir(parents=True, exist_ok=True)
        with open(self.key_dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one first key, even for workers starting together
            try:
                self._load()
                if not self._keys:
                    self.rotate()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> None:
        keys = []
        for path in sorted(self.key_dir.glob("*.pem")):  # names sort by creation time
            keys.append(RSAKey.import_key(path.read_bytes(), parameters={
                "kid": path.stem, "use": "sig", "alg": ALGORITHM}))
        self._keys = keys
        self._loaded_at = time.monotonic()

    def knows(self, kid: str) -> bool:
        """Whether `kid` is a key of this store, re-reading the directory (rate-limited) when
        it is not known yet: another process may have rotated."""
        if any(k.kid == kid for k in self._keys):
            return True
        if time.monotonic() - self._loaded_at >= RELOAD_SECONDS:
            self._load()
            return any(k.kid == kid for k in self._keys)
        return False

    def rotate(self) -> RSAKey:
        """Create a new signing key; earlier keys keep verifying their tokens."""
        kid = f"{time.time_ns():020d}"
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig",
                                                    "alg": ALGORITHM})
        self.key_dir.mkdir(parents=True, exist_ok=True)
        path = self.key_dir / f"{kid}.pem"
        # The private key is readable by the server's user only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.as_pem(private=True))
        self._keys.append(key)
        return key

    def signing_key(self) -> RSAKey:
        return self._keys[-1]

    def key_set(self) -> KeySet:
        return KeySet(list(self._keys))

    def jwks(self) -> dict[str, Any]:
        """The public keys, as served to resource servers and clients."""
        return {"keys": [k.as_dict(private=False) for k in self._keys]}
