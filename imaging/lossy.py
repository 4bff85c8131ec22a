"""Diagnostic-quality lossy frames for slow links: JPEG 2000 irreversible (no Django).

A chest radiograph is several megabytes even losslessly compressed (RG1_J2KR: 4.3 MB, about two
minutes at 300 kbit/s). JPEG 2000 with the irreversible 9-7 wavelet at about 10:1 keeps the full
resolution and bit depth, so window/level still works, at a tenth of that: what teleradiology
systems send over weak links. Only images big enough to need it get one.
"""

import json

import numpy as np
from openjpeg.utils import encode_array
from pydicom.dataset import Dataset

from imaging.render import DEFAULT_DECODE_MAX_BYTES, RenderError, decode_admit, frame_pixels

JPEG2000_LOSSY = "1.2.840.10008.1.2.4.91"
# A stored image under this size reaches a clinic on 300 kbit/s in about half a minute as it is
# (a CT slice is 0.5 MB); above it, the lossless frame takes minutes.
MIN_STORED_BYTES = 1024 * 1024
# Stored in a lossy syntax already: a second lossy pass would compound the loss (JPEG baseline
# and extended, near-lossless JPEG-LS, JPEG 2000, HTJ2K).
LOSSY_STORED_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.81",
        JPEG2000_LOSSY,
        "1.2.840.10008.1.2.4.203",
    }
)
_MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})
_SAMPLES_PER_PIXEL, _PHOTOMETRIC_INTERPRETATION = "00280002", "00280004"


def _first(instance: dict[str, dict[str, list[object]]], tag: str) -> object:
    values = instance.get(tag, {}).get("Value") or [None]
    return values[0]


def lossy_worthwhile(
    *, metadata: str, number_of_frames: int, transfer_syntax: str, stored_bytes: int
) -> bool:
    """Whether an instance gets a lossy derivative: one large greyscale frame stored lossless.

    `metadata` is the instance's DICOM JSON. Multi-frame objects (ultrasound clips, enhanced
    CT) stream frame by frame and get none.
    """
    if (
        number_of_frames != 1
        or stored_bytes <= MIN_STORED_BYTES
        or transfer_syntax in LOSSY_STORED_SYNTAXES
    ):
        return False
    instance = json.loads(metadata)
    return (
        _first(instance, _SAMPLES_PER_PIXEL) == 1
        and _first(instance, _PHOTOMETRIC_INTERPRETATION) in _MONOCHROME
    )


def frame_lossy_encode(
    ds: Dataset, *, ratio: int, max_bytes: int = DEFAULT_DECODE_MAX_BYTES
) -> bytes:
    """The first frame as a JPEG 2000 irreversible codestream at `ratio`:1, full resolution and
    bit depth (transfer syntax 1.2.840.10008.1.2.4.91).

    Raises: DecodeTooLarge when decoding needs more than `max_bytes` (the encoder takes about
    half of what `decode_cost` counts); RenderError when the frame cannot be decoded or encoded.
    """
    decode_admit(ds, max_bytes=max_bytes)
    pixels = frame_pixels(ds, 0)
    if pixels.ndim != 2 or pixels.dtype.kind not in "ui":
        raise RenderError("Only greyscale integer frames get a lossy derivative.")
    bits_stored = int(ds.get("BitsStored") or ds.BitsAllocated)
    try:
        # Photometric interpretation 0: unspecified, so no colour transform is applied.
        encoded = encode_array(
            np.ascontiguousarray(pixels),
            bits_stored=bits_stored,
            photometric_interpretation=0,
            use_mct=False,
            compression_ratios=[float(ratio)],
        )
    except (RuntimeError, ValueError) as exc:
        raise RenderError(f"JPEG 2000 encoding failed: {exc}") from exc
    return encoded
