"""Frames and rendered images from DICOM pixel data: frame access, windowing, encoding (no Django).

Decoding goes through pydicom's pixel plugins (pylibjpeg, openjpeg, gdcm, Pillow), so JPEG,
JPEG-LS, JPEG 2000 and RLE all decode, one frame at a time.
"""

import io
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_rescale, apply_voi
from pydicom.pixels.utils import pack_bits, pixel_array
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

# The stored pixel data of these syntaxes is already native little endian frame after frame.
NATIVE_LITTLE_ENDIAN = frozenset(
    {str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian), str(DeflatedExplicitVRLittleEndian)}
)
# Media types of compressed frames (PS3.18 Table 8.7.3-2).
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MAX_VIEWPORT = 4096
DEFAULT_QUALITY = 90
# The most memory one decode may take unless the caller says otherwise (the settings'
# IMAGING_DECODE_MAX_BYTES): a mammogram renders well inside it, an 8000 x 8000 bomb does not.
DEFAULT_DECODE_MAX_BYTES = 512 * 1024 * 1024
# Working memory per sample beyond the decoded array, measured with tracemalloc and pinned by
# tests/imaging/test_decode_limits.py: decoders' buffers (RLE's are the largest), the array's
# little-endian bytes, or rendering's float64 copies for the modality and VOI steps.
DECODE_WORK_BYTES_PER_SAMPLE = 18


class RenderError(Exception):
    """The pixel data cannot be decoded or rendered."""


class DecodeTooLarge(RenderError):
    """Decoding would take more memory than one request may use (413, or a failed preview)."""

    def __init__(self, cost: int, limit: int) -> None:
        mib = 1024 * 1024
        super().__init__(
            f"decoding it needs about {-(-cost // mib)} MiB of memory and this server "
            f"decodes at most {limit // mib} MiB at once"
        )
        self.cost = cost
        self.limit = limit


class VoiFunction(StrEnum):
    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: VoiFunction = VoiFunction.LINEAR


@dataclass(frozen=True)
class Viewport:
    """Fit the (optionally cropped) image into width x height, keeping its aspect ratio.

    A negative crop width or height flips the image on that axis (PS3.18 8.3.5.1.3).
    """

    width: int
    height: int
    source: tuple[int, int, int, int] | None = None  # sx, sy, sw, sh


def dataset_read(data: bytes) -> Dataset:
    """Parse a stored instance; pixel data stays encoded until a frame is asked for.

    Raises: RenderError for bytes pydicom cannot read.
    """
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # pydicom raises many types for malformed input
        raise RenderError(f"Unreadable instance: {type(exc).__name__}") from exc


def transfer_syntax(ds: Dataset) -> str:
    return str(ds.file_meta.TransferSyntaxUID)


def frame_count(ds: Dataset) -> int:
    if "PixelData" not in ds:
        return 0
    try:
        return max(int(ds.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        return 1


def _attribute(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RenderError(f"The image has no valid {keyword}.") from None


def _samples(ds: Dataset) -> int:
    rows, columns = _attribute(ds, "Rows"), _attribute(ds, "Columns")
    return rows * columns * _attribute(ds, "SamplesPerPixel", 1)


def frame_decoded_bytes(ds: Dataset) -> int:
    """The size of one frame decoded: rows x columns x samples x bits allocated, in bytes.

    Read from the header alone, so a decode can be refused before it allocates anything.
    Raises: RenderError when the image attributes are missing.
    """
    return -(-(_samples(ds) * _attribute(ds, "BitsAllocated")) // 8)


def decode_cost(ds: Dataset) -> int:
    """The memory decoding one frame takes, to bytes or to a rendered image: its array (a byte
    or more per sample, bit-packed data too) and the working copies made of it.

    Raises: RenderError when the image attributes are missing.
    """
    samples = _samples(ds)
    array = samples * -(-_attribute(ds, "BitsAllocated") // 8)
    return array + DECODE_WORK_BYTES_PER_SAMPLE * samples


def decode_admit(ds: Dataset, *, max_bytes: int) -> int:
    """The cost of decoding one frame (see `decode_cost`), refused above `max_bytes`.

    Raises: DecodeTooLarge, or RenderError when the image attributes are missing.
    """
    cost = decode_cost(ds)
    if cost > max_bytes:
        raise DecodeTooLarge(cost, max_bytes)
    return cost


def can_decode(syntax: str) -> bool:
    """Whether an installed pixel plugin decodes this transfer syntax."""
    try:
        return bool(get_decoder(UID(syntax)).is_available)
    except NotImplementedError:
        return False


def frame_native(ds: Dataset, index: int) -> bytes:
    """One frame (0-based) as stored: the codestream of a compressed frame, or its native bytes.

    Only that frame's bytes are touched. Raises: RenderError for 1-bit or unreadable data.
    """
    pixel_data: bytes = ds.PixelData
    syntax = UID(transfer_syntax(ds))
    if syntax.is_encapsulated:
        try:
            return bytes(get_frame(pixel_data, index, number_of_frames=frame_count(ds)))
        except Exception as exc:  # a broken offset table or fragment layout
            raise RenderError(f"Cannot find frame {index + 1}: {exc}") from exc
    bits = int(ds.BitsAllocated)
    if bits % 8:
        raise RenderError("Bit-packed frames are served decoded.")
    size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * bits // 8
    return pixel_data[index * size : (index + 1) * size]


def frame_pixels(ds: Dataset, index: int) -> NDArray[np.generic]:
    """Decode one frame (0-based) without decoding the others; colour comes back as RGB.

    Raises: RenderError when no plugin decodes it or the data is corrupt.
    """
    try:
        return pixel_array(ds, index=index)
    except Exception as exc:  # decoder plugins raise many types
        raise RenderError(f"Cannot decode frame {index + 1}: {type(exc).__name__}") from exc


def _sliced_as_stored(ds: Dataset) -> bool:
    interleaved = (
        int(ds.get("SamplesPerPixel", 1)) == 1 or int(ds.get("PlanarConfiguration", 0)) == 0
    )
    return (
        transfer_syntax(ds) in NATIVE_LITTLE_ENDIAN
        and int(ds.BitsAllocated) % 8 == 0
        and interleaved
    )


def uncompressed_cost(ds: Dataset) -> int:
    """The memory `frame_uncompressed` takes beyond the stored bytes: none for a frame sliced
    from native pixel data, else its decode (see `decode_cost`). Raises: RenderError."""
    return 0 if _sliced_as_stored(ds) else decode_cost(ds)


def frame_uncompressed(
    ds: Dataset, index: int, *, max_bytes: int = DEFAULT_DECODE_MAX_BYTES
) -> bytes:
    """One frame as Explicit VR Little Endian pixel bytes (colour interleaved RGB).

    Raises: DecodeTooLarge when decoding needs more than `max_bytes`, RenderError.
    """
    if _sliced_as_stored(ds):
        return frame_native(ds, index)
    decode_admit(ds, max_bytes=max_bytes)
    pixels = frame_pixels(ds, index)
    if int(ds.BitsAllocated) == 1:
        return bytes(pack_bits(pixels))
    return pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()


def _functional_item(ds: Dataset, index: int, sequence: str) -> Dataset | None:
    """The item of a functional group macro for this frame (per-frame, else shared)."""
    for groups, item_index in (
        ("PerFrameFunctionalGroupsSequence", index),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        items = ds.get(groups)
        if items is None or len(items) <= item_index:
            continue
        found = items[item_index].get(sequence)
        if found:
            return found[0]  # type: ignore[no-any-return]  # pydicom's Sequence is untyped
    return None


def _first(value: object) -> float:
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        value = value[0]
    return float(value)  # type: ignore[arg-type]  # DS and IS values convert to float


def own_window(ds: Dataset, index: int = 0) -> Window | None:
    """The first window the instance itself defines for this frame, if any."""
    source = _functional_item(ds, index, "FrameVOILUTSequence") or ds
    if "WindowCenter" not in source or "WindowWidth" not in source:
        return None
    try:
        center, width = _first(source.WindowCenter), _first(source.WindowWidth)
    except (TypeError, ValueError, IndexError):
        return None
    name = str(source.get("VOILUTFunction", "LINEAR")).strip().upper() or "LINEAR"
    function = VoiFunction(name) if name in VoiFunction.__members__ else VoiFunction.LINEAR
    return Window(center, width, function) if width > 0 else None


def window_apply(values: NDArray[np.float64], window: Window) -> NDArray[np.float64]:
    """Map modality values to 0..255 with a VOI window (PS3.3 C.11.2.1.2)."""
    # One output array worked in place: a frame's float64 copies are most of a render's memory.
    center, width = window.center, window.width
    if window.function is VoiFunction.SIGMOID:
        out = values - center
        out *= -4.0
        out /= width
        np.exp(out, out=out)
        out += 1.0
        np.divide(255.0, out, out=out)
    else:
        if window.function is VoiFunction.LINEAR_EXACT:
            out = values - center
            out /= width
        else:
            out = values - (center - 0.5)
            out /= max(width - 1.0, 1.0)
        out += 0.5
        out *= 255.0
    return np.clip(out, 0.0, 255.0, out=out)


def _rescaled(ds: Dataset, pixels: NDArray[np.generic], index: int) -> NDArray[np.float64]:
    transform = _functional_item(ds, index, "PixelValueTransformationSequence")
    if transform is not None and "RescaleSlope" in transform:
        slope = float(transform.RescaleSlope)
        intercept = float(transform.get("RescaleIntercept", 0))
        values = pixels.astype(np.float64)
        values *= slope
        values += intercept
        return values
    return np.asarray(apply_rescale(pixels, ds), dtype=np.float64)


def _stretch(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Min/max to 0..255, in place: callers pass an array of their own."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    values -= low
    values *= 255.0 / (high - low)
    return values


def _grey(
    ds: Dataset, pixels: NDArray[np.generic], index: int, window: Window | None
) -> NDArray[np.uint8]:
    chosen = window or own_window(ds, index)
    if chosen is not None:
        shown = window_apply(_rescaled(ds, pixels, index), chosen)
    elif "VOILUTSequence" in ds:
        lut = ds.VOILUTSequence[0]
        mapped = np.asarray(apply_voi(_rescaled(ds, pixels, index), ds), dtype=np.float64)
        top = float(max(lut.LUTData)) if lut.get("LUTData") else float(mapped.max())
        shown = np.clip(mapped * (255.0 / top), 0.0, 255.0) if top > 0 else _stretch(mapped)
    else:
        shown = _stretch(_rescaled(ds, pixels, index))
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        np.subtract(255.0, shown, out=shown)
    return np.rint(shown, out=shown).astype(np.uint8)


def _colour(ds: Dataset, pixels: NDArray[np.generic]) -> NDArray[np.uint8]:
    if pixels.dtype == np.uint8:
        return pixels.astype(np.uint8, copy=False)
    bits = int(ds.get("BitsStored", ds.BitsAllocated))
    scaled = pixels.astype(np.float64)
    scaled *= 255.0 / float((1 << bits) - 1)
    np.rint(scaled, out=scaled)
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)


def _crop(image: Image.Image, source: tuple[int, int, int, int]) -> Image.Image:
    sx, sy, sw, sh = source
    left, right = sorted((sx, sx + sw))
    top, bottom = sorted((sy, sy + sh))
    cropped = image.crop((max(left, 0), max(top, 0), right, bottom))
    if sw < 0:
        cropped = cropped.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if sh < 0:
        cropped = cropped.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return cropped


def image_fit(image: Image.Image, viewport: Viewport) -> Image.Image:
    """Crop to the viewport's source region, if any, then scale to fit it."""
    if viewport.source is not None:
        image = _crop(image, viewport.source)
    scale = min(viewport.width / image.width, viewport.height / image.height)
    size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def frame_render(
    ds: Dataset,
    index: int,
    *,
    window: Window | None = None,
    viewport: Viewport | None = None,
    max_bytes: int = DEFAULT_DECODE_MAX_BYTES,
) -> Image.Image:
    """One frame for display: modality LUT, VOI (the given window, else the instance's own
    window or VOI LUT, else min/max), MONOCHROME1 inverted, colour as RGB, fit to a viewport.

    Raises: DecodeTooLarge above `max_bytes` of working memory, RenderError.
    """
    decode_admit(ds, max_bytes=max_bytes)
    pixels = frame_pixels(ds, index)
    samples = int(ds.get("SamplesPerPixel", 1))
    if samples == 1:
        if pixels.ndim != 2:
            raise RenderError("Unexpected pixel array shape.")
        image = Image.fromarray(_grey(ds, pixels, index, window), mode="L")
    elif samples == 3 and pixels.ndim == 3:
        image = Image.fromarray(_colour(ds, pixels), mode="RGB")
    else:
        raise RenderError(f"Cannot render {samples} samples per pixel.")
    return image_fit(image, viewport) if viewport is not None else image


def image_encode(image: Image.Image, media_type: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode as image/jpeg, image/png or image/webp."""
    out = io.BytesIO()
    image_format = IMAGE_FORMATS[media_type]
    if image_format == "PNG":
        image.save(out, format="PNG", compress_level=3)
    else:
        image.save(out, format=image_format, quality=quality)
    return out.getvalue()


def element_at(ds: Dataset, path: str) -> DataElement | None:
    """The element a BulkDataURI path names: "7FE00010", or "00880200/0/7FE00010" in a sequence."""
    parts = path.strip("/").split("/")
    if len(parts) % 2 == 0:
        return None
    current = ds
    try:
        for position in range(0, len(parts) - 1, 2):
            sequence = current[int(parts[position], 16)]
            current = sequence.value[int(parts[position + 1])]
        return current[int(parts[-1], 16)]
    except (KeyError, IndexError, ValueError, TypeError):
        return None
