"""WADO-RS negotiation for frames, rendered and thumbnail resources (PS3.18 8.3, 8.7); no Django."""

from dataclasses import dataclass

from pydicom.uid import ExplicitVRLittleEndian

from imaging.multipart import MediaType, accept_parse
from imaging.render import (
    DEFAULT_QUALITY,
    FRAME_MEDIA_TYPES,
    IMAGE_FORMATS,
    MAX_VIEWPORT,
    NATIVE_LITTLE_ENDIAN,
    Viewport,
    VoiFunction,
    Window,
)

OCTET_STREAM = "application/octet-stream"
UNCOMPRESSED = str(ExplicitVRLittleEndian)
MAX_FRAMES_PER_REQUEST = 10_000


class ParameterInvalid(ValueError):
    """A malformed frame list or rendering parameter (answered with 400)."""


@dataclass(frozen=True)
class FramePlan:
    """How to send frames: as stored (`native`) or decoded, with the part media type."""

    native: bool
    media_type: str
    transfer_syntax: str

    @property
    def part_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.transfer_syntax}"


def frame_numbers_parse(text: str) -> list[int]:
    """A frame list ("1", "1,3,5"): 1-based numbers, in the order asked.

    PS3.18 defines it as non-duplicate frame numbers: a list naming a frame twice is refused
    rather than answered with that frame again (1,1,1,... would multiply one decode).
    Raises: ParameterInvalid.
    """
    items = text.split(",")
    if len(items) > MAX_FRAMES_PER_REQUEST or not all(i.strip().isdigit() for i in items):
        raise ParameterInvalid(
            f"The frame list must be at most {MAX_FRAMES_PER_REQUEST} comma-separated "
            "positive integers."
        )
    numbers = [int(item) for item in items]
    if min(numbers) < 1:
        raise ParameterInvalid("Frame numbers start at 1.")
    if len(set(numbers)) != len(numbers):
        raise ParameterInvalid("The frame list names a frame more than once.")
    return numbers


def _wildcard_match(media_range: str, media_type: str) -> bool:
    if media_range in ("*/*", media_type):
        return True
    return media_range.endswith("/*") and media_type.startswith(media_range[:-1])


def frames_negotiate(accept: str, stored_syntax: str, *, decodable: bool) -> FramePlan | None:
    """Choose how to send the frames of an instance stored in `stored_syntax`, or None (406).

    The stored form wins whenever the client accepts it (no transcoding, no loss); otherwise
    frames are decoded to application/octet-stream in Explicit VR Little Endian, the default
    when the Accept header names no transfer syntax.
    """
    compressed_type = FRAME_MEDIA_TYPES.get(stored_syntax)
    slicable = stored_syntax in NATIVE_LITTLE_ENDIAN
    native = FramePlan(
        native=True,
        media_type=compressed_type or OCTET_STREAM,
        transfer_syntax=stored_syntax if compressed_type else UNCOMPRESSED,
    )
    decoded = FramePlan(native=slicable, media_type=OCTET_STREAM, transfer_syntax=UNCOMPRESSED)
    can_send_native = compressed_type is not None or slicable
    can_decode = slicable or decodable
    native_ok = uncompressed_ok = False
    ranges = accept_parse(accept) if accept.strip() else []
    if not ranges:
        uncompressed_ok = True
    for media in ranges:
        if media.type in ("*/*", "multipart/*"):
            uncompressed_ok = True
            continue
        if media.type != "multipart/related":
            continue
        part = media.params.get("type", OCTET_STREAM).lower()
        syntax = media.params.get("transfer-syntax")
        if part == OCTET_STREAM:
            if syntax in (None, "*", UNCOMPRESSED) or (slicable and syntax == stored_syntax):
                uncompressed_ok = True
        elif _wildcard_match(part, native.media_type) and syntax in (None, "*", stored_syntax):
            native_ok = True
        elif part == "*/*" and syntax == UNCOMPRESSED:
            uncompressed_ok = True
    if native_ok and can_send_native:
        return native
    if uncompressed_ok and can_decode:
        return decoded
    return None


def lossy_part_type(accept: str, transfer_syntax: str) -> str | None:
    """The part media type (application/octet-stream or image/jp2) under which the client asks
    for frames in this lossy JPEG 2000 transfer syntax, or None when it does not name it.

    Only an explicit transfer-syntax parameter counts: "*" and the media types' defaults are
    lossless, so nothing lossy reaches a client that did not ask for it.
    """
    for media in accept_parse(accept) if accept.strip() else []:
        if media.type != "multipart/related" or _refused(media):
            continue
        part = media.params.get("type", OCTET_STREAM).lower()
        if media.params.get("transfer-syntax") == transfer_syntax and part in (
            OCTET_STREAM,
            FRAME_MEDIA_TYPES.get(transfer_syntax),
        ):
            return part
    return None


def _refused(media: MediaType) -> bool:
    """q=0 marks a media range as not acceptable (RFC 9110 12.4.2)."""
    try:
        return float(media.params.get("q", "1")) == 0
    except ValueError:
        return False


def image_type_negotiate(accept: str, accept_param: str | None = None) -> str | None:
    """The image media type for a rendered or thumbnail response (JPEG by default), or None.

    The `accept` query parameter, when present, overrides the header (PS3.18 8.3.3.1).
    """
    value = accept_param if accept_param is not None else accept
    ranges = accept_parse(value) if value.strip() else []
    if not ranges:
        return "image/jpeg"
    for media in ranges:
        if media.type in IMAGE_FORMATS:
            return media.type
        if media.type in ("*/*", "image/*"):
            return "image/jpeg"
    return None


@dataclass(frozen=True)
class RenderParams:
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = DEFAULT_QUALITY


def _numbers(name: str, value: str, count: tuple[int, ...]) -> list[float]:
    items = [item.strip() for item in value.split(",")]
    if len(items) not in count:
        raise ParameterInvalid(f"{name} takes {' or '.join(map(str, count))} values.")
    try:
        return [float(item) for item in items]
    except ValueError as exc:
        raise ParameterInvalid(f"{name} values must be numbers.") from exc


def _window_parse(value: str) -> Window:
    parts = [item.strip() for item in value.split(",")]
    if len(parts) not in (2, 3):
        raise ParameterInvalid("window is center,width,function.")
    center, width = _numbers("window", ",".join(parts[:2]), (2,))
    name = (parts[2] if len(parts) == 3 else "linear").upper().replace("-", "_")
    if name not in VoiFunction.__members__:
        raise ParameterInvalid("The window function is linear, linear-exact or sigmoid.")
    function = VoiFunction(name)
    if width <= 0 or (function is VoiFunction.LINEAR and width < 1):
        raise ParameterInvalid("The window width must be positive (at least 1 for linear).")
    return Window(center=center, width=width, function=function)


def _viewport_parse(value: str) -> Viewport:
    numbers = _numbers("viewport", value, (2, 6))
    if not all(n.is_integer() for n in numbers):
        raise ParameterInvalid("viewport values must be integers.")
    vw, vh, *source = (int(n) for n in numbers)
    if not (0 < vw <= MAX_VIEWPORT and 0 < vh <= MAX_VIEWPORT):
        raise ParameterInvalid(f"The viewport must be between 1 and {MAX_VIEWPORT} pixels.")
    if not source:
        return Viewport(width=vw, height=vh)
    sx, sy, sw, sh = source
    if sx < 0 or sy < 0 or sw == 0 or sh == 0:
        raise ParameterInvalid("The viewport source region is empty or outside the image.")
    return Viewport(width=vw, height=vh, source=(sx, sy, sw, sh))


def render_params_parse(query: dict[str, str]) -> RenderParams:
    """window, viewport and quality from the query string; other parameters are ignored.

    Raises: ParameterInvalid.
    """
    window = _window_parse(query["window"]) if "window" in query else None
    viewport = _viewport_parse(query["viewport"]) if "viewport" in query else None
    quality = DEFAULT_QUALITY
    if "quality" in query:
        text = query["quality"].strip()
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise ParameterInvalid("quality is an integer from 1 to 100.")
        quality = int(text)
    return RenderParams(window=window, viewport=viewport, quality=quality)
