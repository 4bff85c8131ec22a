"""Attachment checks: the type is read from the file's first bytes, never from its name, and
the whole file must have that type's structure (a PDF's trailer, an image's decodable header)."""

import re
from dataclasses import dataclass
from typing import IO

from PIL import Image, UnidentifiedImageError

MB = 1024 * 1024

JPEG = "image/jpeg"
PNG = "image/png"
PDF = "application/pdf"

_SIGNATURES: list[tuple[bytes, str, str]] = [
    (b"\xff\xd8\xff", JPEG, ".jpg"),
    (b"\x89PNG\r\n\x1a\n", PNG, ".png"),
    (b"%PDF-", PDF, ".pdf"),
]

# Per attachment kind: the content types allowed and the largest size in bytes.
LIMITS: dict[str, tuple[frozenset[str], int]] = {
    "photo": (frozenset({JPEG, PNG}), 10 * MB),
    "document": (frozenset({PDF, JPEG, PNG}), 20 * MB),
    "ecg": (frozenset({PDF, JPEG, PNG}), 10 * MB),
    "consent_form": (frozenset({PDF, JPEG, PNG}), 10 * MB),
}


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    extension: str


def sniff(head: bytes) -> Sniffed | None:
    """The file type its first bytes show, if it is one that is accepted at all."""
    for signature, content_type, extension in _SIGNATURES:
        if head.startswith(signature):
            return Sniffed(content_type, extension)
    return None


def check(*, kind: str, head: bytes, size: int) -> Sniffed | str:
    """The sniffed type if the file may be attached as `kind`, else why not."""
    if kind not in LIMITS:
        return f"Unknown attachment kind {kind!r}."
    allowed, max_size = LIMITS[kind]
    if size == 0:
        return "The file is empty."
    if size > max_size:
        return f"The file is {size} bytes; at most {max_size} bytes are allowed for {kind}."
    sniffed = sniff(head)
    if sniffed is None or sniffed.content_type not in allowed:
        names = ", ".join(sorted(allowed))
        return f"This file type is not allowed for {kind}; allowed: {names}."
    return sniffed


# A PDF ends with "startxref", the cross-reference's offset and "%%EOF" (ISO 32000-1 7.5.5);
# writers may add a little after it.
_PDF_TAIL_BYTES = 1024
_PDF_STARTXREF = re.compile(rb"startxref\s+(\d{1,12})\s+%%EOF\s*$")
# At that offset: a cross-reference table ("xref") or a cross-reference stream object.
_PDF_XREF_AT = re.compile(rb"xref\s|\d+\s+\d+\s+obj\b")
_PIL_FORMATS = {JPEG: "JPEG", PNG: "PNG"}


def structure_problem(sniffed: Sniffed, stream: IO[bytes], size: int) -> str | None:
    """Why the file is not whole as its type requires, or None.

    A PDF must end with its trailer, and its cross-reference must be where the trailer says;
    an image must open and verify with Pillow as the type its first bytes claimed. Both are
    cheap: a PDF is read at two places, an image's data is checked without decoding pixels.
    """
    if sniffed.content_type == PDF:
        return _pdf_problem(stream, size)
    return _image_problem(stream, _PIL_FORMATS[sniffed.content_type])


def _pdf_problem(stream: IO[bytes], size: int) -> str | None:
    broken = "The PDF is damaged or not a PDF (its end, the trailer, is missing or wrong)."
    stream.seek(max(0, size - _PDF_TAIL_BYTES))
    found = _PDF_STARTXREF.search(stream.read(_PDF_TAIL_BYTES).rstrip(b"\x00"))
    if found is None:
        return broken
    offset = int(found.group(1))
    if not 0 < offset < size:
        return broken
    stream.seek(offset)
    if _PDF_XREF_AT.match(stream.read(64)) is None:
        return broken
    return None


def _image_problem(stream: IO[bytes], pil_format: str) -> str | None:
    broken = "The image is damaged or not the type its first bytes claim."
    stream.seek(0)
    try:
        with Image.open(stream) as image:
            if image.format != pil_format:
                return broken
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        return broken
    except (OSError, SyntaxError, ValueError):  # Pillow's ways of saying the data is broken
        return broken
    return None
