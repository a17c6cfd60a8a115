"""Turning a report file's bytes into UTF-8 text and finding its header line and delimiter.

Real exports arrive as UTF-8 with or without a BOM, as Windows-1252 when a French or Portuguese
Excel re-saved them, now and then as UTF-16 ("Unicode text"), and sometimes with accents that
were already mis-decoded once (``Pr├®nom`` for ``Prénom``). Each is detected, never assumed:
a file that is none of these is refused with the reason. Non-UTF-8 input is transcoded once so
polars reads UTF-8 bytes.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

from fleetcore.revenue.reports import limits
from fleetcore.revenue.reports.mapping import all_known_keys, common, normalise_header
from fleetcore.revenue.reports.model import UnreadableReport

DELIMITERS = (",", ";", "\t")
_SAMPLE = 1 << 20  # bytes examined for mis-decoded accents and for the header

# How a UTF-8 file gets its accents mangled: read as one of these, then saved as UTF-8 again.
_MOJIBAKE_SOURCES = ("cp1252", "cp850", "cp437")
# Legacy encodings a non-UTF-8 export may be in, most likely first.
_LEGACY = ("cp1252", "cp850")


@dataclass(frozen=True, slots=True)
class Decoded:
    """The file as UTF-8 bytes and how it was written.

    ``data`` may still start with the UTF-8 byte-order mark (copying a large file only to drop
    three bytes is not worth it: the header line that holds it is parsed apart). When
    ``verified`` is False only the first megabyte was checked; the CSV reader lets polars
    validate the rest and calls :func:`fall_back` if it finds a byte that is not UTF-8.
    """

    data: bytes
    encoding: str
    verified: bool = True
    sample_ascii: bool = True

    @property
    def body(self) -> bytes:
        """``data`` without a byte-order mark (for readers that need it gone)."""
        return self.data[3:] if self.data.startswith(codecs.BOM_UTF8) else self.data


def decode(data: bytes, *, verify: bool = True) -> Decoded:
    """UTF-8 bytes of a text file, or UnreadableReport saying why the bytes are not text.

    ``verify=False`` checks only the first megabyte of a UTF-8 file (see :class:`Decoded`).
    """
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if not data[skip : skip + _SAMPLE].strip() and not data[skip:].strip():
        raise UnreadableReport("the file is empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableReport(f"the file says it is UTF-16 but is not ({exc.reason})") from exc
        return _repair(Decoded(text.encode("utf-8"), "utf-16"))
    bom = data.startswith(codecs.BOM_UTF8)
    start = len(codecs.BOM_UTF8) if bom else 0
    if b"\x00" in data[:_SAMPLE]:
        raise UnreadableReport("the file is binary (it holds NUL bytes), not a CSV export")
    sample = data[start : start + _SAMPLE]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = exc.reason == "unexpected end of data" and len(data) > start + _SAMPLE
        if not cut:  # a bad byte, not a character cut at the sample's end
            if bom:
                raise UnreadableReport(
                    "the file starts with a UTF-8 byte-order mark but byte "
                    f"0x{sample[exc.start]:02X} at offset {exc.start + start} is not UTF-8"
                ) from exc
            if not sample[: exc.start].isascii():
                raise UnreadableReport(
                    f"the file is UTF-8 but byte 0x{sample[exc.start]:02X} at offset "
                    f"{exc.start} is not: it was damaged, export it again"
                ) from exc
            return _repair(_legacy(data, exc))
        text = sample[: exc.start].decode("utf-8")
    encoding = "utf-8-sig" if bom else "utf-8"
    if not verify and len(data) > start + _SAMPLE:
        return _repair(Decoded(data, encoding, verified=False, sample_ascii=text.isascii()))
    body = data[start:]
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return fall_back(Decoded(data, encoding, sample_ascii=text.isascii()), exc)
    return _repair(Decoded(data, encoding, sample_ascii=text.isascii()))


def fall_back(decoded: Decoded, error: UnicodeDecodeError | None = None) -> Decoded:
    """A file that looked like UTF-8 but holds a byte that is not. If its first megabyte had
    UTF-8 accents, it is a damaged UTF-8 file (refused); if it was plain ASCII, it is a
    legacy-encoded file whose first accent comes late."""
    body = decoded.body
    if error is None:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            error = exc
        else:  # pragma: no cover - polars and Python disagree on UTF-8
            raise UnreadableReport("the file is not valid UTF-8")
    if decoded.encoding == "utf-8-sig" or not decoded.sample_ascii:
        raise UnreadableReport(
            f"the file is UTF-8 but byte 0x{body[error.start]:02X} at offset {error.start} is "
            "not: it was damaged, export it again"
        )
    return _repair(_legacy(body, error))


def _legacy(data: bytes, utf8_error: UnicodeDecodeError) -> Decoded:
    """A file that is not UTF-8: Windows-1252 (Excel in France and Portugal) or, rarely, the
    DOS code page 850. Code page 850 decodes any byte, so it is chosen only on evidence: it
    makes more header fields known than Windows-1252 and than the ASCII part alone."""
    head = data[:_SAMPLE]
    baseline = _header_score(head.decode("ascii", errors="replace"))
    best: tuple[int, str] | None = None
    for encoding in _LEGACY:
        try:
            score = _header_score(head.decode(encoding))
        except UnicodeDecodeError:
            continue
        if encoding != _LEGACY[0] and score <= baseline:
            continue
        if best is None or score > best[0]:
            best = (score, encoding)
    if best is not None:
        try:
            return Decoded(data.decode(best[1]).encode("utf-8"), best[1])
        except UnicodeDecodeError:
            pass
    where = ""
    try:
        data.decode(_LEGACY[0])
    except UnicodeDecodeError as exc:
        where = f"; byte 0x{data[exc.start]:02X} at offset {exc.start} is not Windows-1252"
    raise UnreadableReport(
        f"the file is neither UTF-8 (byte 0x{data[utf8_error.start]:02X} at offset "
        f"{utf8_error.start}) nor Windows-1252{where}: export it again as UTF-8"
    ) from utf8_error


def _fields(line: str, delimiter: str) -> list[str]:
    """The fields of one header line; none when the csv module cannot split it (a bare
    carriage return inside a field, say), so the line is simply no known header."""
    try:
        return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    except csv.Error:
        return []


def _header_score(text: str) -> int:
    """How many fields of the first non-blank line are headers some mapping knows."""
    known = all_known_keys()
    words = common().currency_words
    for line in text.split("\n"):
        if line.strip() and not line.strip().lower().startswith("sep="):
            if len(line) > limits.MAX_HEADER_BYTES:
                return 0  # refused as too long once the encoding is settled
            return max(
                sum(
                    1
                    for h in _fields(line.rstrip("\r"), d)
                    if normalise_header(h, words).key in known
                )
                for d in DELIMITERS
            )
    return 0


def _repair(decoded: Decoded) -> Decoded:
    """Undo accents that were mis-decoded once (UTF-8 read as cp1252/cp850 and saved again).

    The test is a round trip, not a list of suspicious characters: text whose non-ASCII
    characters re-encode in the legacy code page to valid UTF-8 can only be mojibake (genuine
    French or Portuguese text never does). The repair applies to the whole file or not at all.
    """
    if decoded.sample_ascii and decoded.encoding in ("utf-8", "utf-8-sig"):
        return decoded
    sample = decoded.body[:_SAMPLE].decode("utf-8", errors="ignore")
    if sample.isascii():
        return decoded
    for source in _MOJIBAKE_SOURCES:
        try:
            repaired_sample = sample.encode(source).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if repaired_sample == sample:
            continue
        try:
            text = decoded.body.decode("utf-8").encode(source).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError) as exc:
            raise UnreadableReport(
                f"the file's accents were mis-decoded (read as {source} and saved again, e.g. "
                f"{_example(sample, repaired_sample)}) and not all of it can be repaired: export "
                "it again from the platform"
            ) from exc
        repaired = text.lstrip("\ufeff").encode("utf-8")
        return Decoded(repaired, f"{decoded.encoding} (mis-decoded as {source}, repaired)")
    return decoded


def _example(bad: str, good: str) -> str:
    for bad_word, good_word in zip(bad.split(), good.split(), strict=False):
        if bad_word != good_word:
            return f"'{bad_word}' for '{good_word}'"
    return "accents replaced by other characters"


# --- header line and delimiter ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderLine:
    """Where the header is and how the file separates fields."""

    lines_before_data: int  # physical lines up to and including the header
    delimiter: str
    headers: list[str]

    @property
    def header_line_number(self) -> int:
        return self.lines_before_data


def find_header(data: bytes) -> HeaderLine:
    """The header line (the first non-blank one, after an Excel ``sep=`` line) and the delimiter
    that makes the most of its fields known headers. UnreadableReport when none does."""
    head = data[:_SAMPLE].decode("utf-8", errors="replace")
    # polars counts "\n" only, so lines are split the same way ("\r" of CRLF stripped).
    lines = [line.rstrip("\r") for line in head.split("\n")]
    index = 0
    forced: str | None = None
    if lines and lines[0].strip().lower().startswith("sep=") and len(lines[0].strip()) == 5:
        forced = lines[0].strip()[4]
        index = 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines):
        raise UnreadableReport("the file is empty")
    line = lines[index].lstrip("\ufeff")
    size = len(line.encode("utf-8"))
    if size > limits.MAX_HEADER_BYTES:
        more = "" if index + 1 < len(lines) else " or more"
        raise UnreadableReport(
            f"line {index + 1}, the header, is {size} bytes{more} long: more than the "
            f"{limits.size_text(limits.MAX_HEADER_BYTES)} a report header may be")
    known = all_known_keys()
    words = common().currency_words
    best: tuple[int, int, str, list[str]] | None = None
    for delimiter in (forced,) if forced else DELIMITERS:
        fields = _fields(line, delimiter)
        score = sum(1 for h in fields if normalise_header(h, words).key in known)
        candidate = (score, len(fields), delimiter, fields)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    assert best is not None
    score, _, delimiter, fields = best
    if score == 0:
        shown = line if len(line) <= 120 else line[:117] + "..."
        raise UnreadableReport(f"no known report header in line {index + 1}: '{shown}'")
    return HeaderLine(lines_before_data=index + 1, delimiter=delimiter, headers=fields)
