"""The files behind the demo's documents: small real PDFs and JPEGs, stored under the same
``<tenant_id>/<document_id>`` keys as uploaded documents, so downloading a demo document (the
API's ``/files/<token>`` link, the console's download button) works like any other.

Each file is made from the document's id, type and file name (deterministic for a seed), so the
dataset can give ``size_bytes`` and ``sha256`` before anything is stored, and the loader writes
exactly those bytes.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable

from fleetcore.documents.storage import DocumentStorage

__all__ = ["PLACEHOLDER_NOTE", "demo_document_file", "mime_type_of", "store_demo_documents"]

PLACEHOLDER_NOTE = "Demo document: the file is a placeholder."


def mime_type_of(file_name: str) -> str:
    """``image/jpeg`` for a ``.jpg`` photo, ``application/pdf`` for anything else."""
    return "image/jpeg" if file_name.endswith(".jpg") else "application/pdf"


def demo_document_file(document_id: uuid.UUID, document_type: str, file_name: str) -> bytes:
    """The placeholder file of one demo document (its type follows the file name)."""
    label = f"Fleetcore demo - {document_type.replace('_', ' ')} - {file_name}"
    if mime_type_of(file_name) == "image/jpeg":
        return _jpeg(f"{label} ({document_id})")
    return _pdf([label, f"Document {document_id}", "A placeholder for the demo, not a real "
                 "document."])


def store_demo_documents(storage: DocumentStorage, rows: Iterable[dict[str, object]]) -> int:
    """Write the file of each ``doc_documents`` row (as dicts); returns how many."""
    count = 0
    for row in rows:
        document_id = row["id"]
        assert isinstance(document_id, uuid.UUID)
        data = demo_document_file(document_id, str(row["document_type"]), str(row["file_name"]))
        storage.put(str(row["storage_key"]), io.BytesIO(data), mime_type_of(str(row["file_name"])))
        count += 1
    return count


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 showing ``lines`` in Helvetica (ASCII), with a correct xref table."""
    def escaped(text: str) -> str:
        ascii_text = text.encode("ascii", "replace").decode("ascii")
        return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = "BT /F1 14 Tf 72 770 Td 18 TL " + " ".join(
        f"({escaped(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode("ascii")
    return bytes(out)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _jpeg(comment: str) -> bytes:
    """A baseline JPEG of one mid-grey 8x8 block, with ``comment`` in a COM segment.

    One Huffman code per table (DC difference 0, end of block) makes the whole scan two bits.
    """
    one_code = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1, for symbol 0
    return b"".join([
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xFE, comment.encode("ascii", "replace")),
        _segment(0xDB, b"\x00" + b"\x01" * 64),
        _segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),
        _segment(0xC4, b"\x00" + one_code),
        _segment(0xC4, b"\x10" + one_code),
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        b"\x3f",  # DC "0" + EOB "0", padded with ones
        b"\xff\xd9",
    ])
