"""How much of a report file Fleetcore agrees to read (``docs/imports.md``, "Limits").

A report is a table of short texts: driver ids, names, amounts, times. Anything far beyond
that is a broken or hostile file, and reading it anyway costs memory on every worker and
bytes in every response that shows it (a 100 MB cell became an account name that the imports
list returned on every call). Each limit is checked where the bytes are read — zip members
while they inflate, never trusting the sizes their headers declare — and refuses the whole file
with a reason that names the limit (and the row and column for a cell).
"""

from __future__ import annotations

MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
"""An uploaded report (as sent, zipped or not): larger is refused with 413. A CSV report in
UTF-8 is read from disk in bounded batches, so this bounds disk and time, not memory; what is
read whole is bounded by ``MAX_MEMBER_BYTES``."""

MAX_MEMBER_BYTES = 512 * 1024 * 1024
"""One report read whole in memory: a zip member once inflated, one XLSX's parts together, a
spreadsheet or JSON report, a CSV that must be transcoded (not UTF-8) — and any other upload
read whole (toll and charge statements). Larger is 413."""

MAX_ZIP_BYTES = 1024 * 1024 * 1024
"""All the reports of one zip once inflated: larger is 413."""

MAX_HEADER_BYTES = 64 * 1024
"""The header line of a CSV (or all the headers of a sheet or of the JSON orders' fields)."""

MAX_CELL_BYTES = 4 * 1024
"""One cell (UTF-8 bytes). The longest real values — addresses, descriptions — are a few
hundred bytes."""

MAX_JSON_DEPTH = 16
"""Objects and arrays nested inside one another in a JSON report (Bolt's orders use 4)."""


def size_text(limit: int) -> str:
    """``512 MB``, ``1 GB``, ``4 KB``: how a limit is named in a refusal."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if limit >= scale and limit % scale == 0:
            return f"{limit // scale} {unit}"
    return f"{limit} bytes"


def clip(text: str | None, size: int) -> str | None:
    """``text`` cut to ``size`` characters (the last one an ellipsis) when it is longer."""
    if text is None or len(text) <= size:
        return text
    return text[: size - 1] + "\u2026"


__all__ = [
    "MAX_CELL_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_MEMBER_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_ZIP_BYTES",
    "clip",
    "size_text",
]
