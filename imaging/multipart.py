"""multipart/related bodies and media-type headers for DICOMweb (RFC 2387, RFC 9110); no Django."""

import re
import secrets
from dataclasses import dataclass, field

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf';\s*({_TCHARS})\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


class MultipartError(ValueError):
    """The body is not a well-formed multipart message."""


@dataclass(frozen=True)
class MediaType:
    type: str
    params: dict[str, str] = field(default_factory=dict)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def media_type_parse(value: str) -> MediaType:
    """Parse one media type with its parameters; names are lower-cased, values unquoted."""
    main, _, rest = value.strip().partition(";")
    params = {
        name.lower(): _unquote(raw.strip())
        for name, raw in _PARAM.findall(";" + rest if rest else "")
    }
    return MediaType(type=main.strip().lower(), params=params)


def accept_parse(value: str) -> list[MediaType]:
    """Split an Accept header into media ranges (commas inside quotes do not split)."""
    ranges: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            ranges.append("".join(current))
            current = []
        else:
            current.append(char)
    ranges.append("".join(current))
    return [media_type_parse(item) for item in ranges if item.strip()]


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def multipart_parse(body: bytes, boundary: str) -> list[Part]:
    """Split a multipart body into its parts.

    Raises: MultipartError when the boundary never appears or the closing delimiter is missing.
    """
    if not boundary or len(boundary) > 200:
        raise MultipartError("Missing or invalid boundary.")
    delimiter = b"--" + boundary.encode("latin-1")
    # The first delimiter may open the body or follow a preamble ending in CRLF.
    if body.startswith(delimiter):
        position = 0
    else:
        position = body.find(b"\r\n" + delimiter)
        if position < 0:
            raise MultipartError("The boundary does not occur in the body.")
        position += 2
    parts: list[Part] = []
    separator = b"\r\n" + delimiter
    while True:
        after = position + len(delimiter)
        if body[after : after + 2] == b"--":
            return parts
        header_start = body.find(b"\r\n", after)
        if header_start < 0:
            raise MultipartError("Truncated multipart body.")
        header_end = body.find(b"\r\n\r\n", header_start)
        if header_end < 0:
            raise MultipartError("A part has no header terminator.")
        next_delimiter = body.find(separator, header_end + 4)
        if next_delimiter < 0:
            raise MultipartError("The closing boundary delimiter is missing.")
        headers = _headers_parse(body[header_start + 2 : header_end])
        parts.append(Part(headers=headers, body=body[header_end + 4 : next_delimiter]))
        position = next_delimiter + 2


def _headers_parse(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError("Malformed part header.")
        headers[name.strip().lower()] = value.strip()
    return headers


def boundary_new() -> str:
    return "yunzhen-" + secrets.token_hex(16)


def part_head(boundary: str, content_type: str, *, first: bool = False) -> bytes:
    """The delimiter and headers that open one part."""
    lead = b"" if first else b"\r\n"
    return lead + f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("latin-1")
