"""Attachment checks: the type is read from the file's first bytes, never from its name."""

from dataclasses import dataclass

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
