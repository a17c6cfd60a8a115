"""Server-side secret keys: the configured one, or a random one kept under the data dir.

Used for keys that only this installation must know (signed document links, the console's
CSRF tokens): a single-machine setup works without configuring them, and a multi-process or
multi-machine deployment sets them so that every process signs alike.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def secret_key(configured: str | None, data_dir: Path, name: str) -> bytes:
    """``configured`` (a setting), or a random 256-bit key in ``<data_dir>/keys/<name>.key``
    (0600, made once; concurrent first starts agree on the first one written)."""
    if configured:
        return configured.encode()
    path = data_dir / "keys" / f"{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())
