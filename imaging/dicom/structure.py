"""Part 10 byte structure: completeness checks, the content hash, file meta, frame fragments."""

import hashlib
import io
import struct
import zlib

import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from imaging.dicom.failures import DicomRejected, FailureReason

UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM_TAG = 0xFFFEE000
ITEM_END_TAG = 0xFFFEE00D
SEQUENCE_END_TAG = 0xFFFEE0DD
TRAILING_PADDING_TAG = 0xFFFCFFFC
LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)


# Inflating in steps keeps memory at one step whatever the data set inflates to.
_INFLATE_INPUT_STEP = 64 * 1024
_INFLATE_OUTPUT_STEP = 1024 * 1024


def deflated_size_check(data: bytes, offset: int, limit: int) -> None:
    """Refuse a deflated data set that inflates to more than `limit` bytes, before anything
    inflates it whole (pydicom's reader does): a few megabytes can inflate to gigabytes.

    Inflates step by step and keeps nothing; corrupt data is left to the completeness check.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    try:
        for start in range(offset, len(data), _INFLATE_INPUT_STEP):
            pending = data[start : start + _INFLATE_INPUT_STEP]
            while pending and not inflater.eof:
                total += len(inflater.decompress(pending, _INFLATE_OUTPUT_STEP))
                if total > limit:
                    raise DicomRejected(
                        FailureReason.OUT_OF_RESOURCES,
                        f"The deflated data set would inflate to more than {limit} bytes.",
                    )
                pending = inflater.unconsumed_tail
            if inflater.eof:
                return
    except zlib.error:
        return


def _le_or_be(little_endian: bool) -> str:
    return "<" if little_endian else ">"


def _walk_dataset(
    buf: bytes,
    pos: int,
    end: int,
    implicit: bool,
    little: bool,
    meaningless: list[tuple[int, int]] | None = None,
) -> int:
    """Check that every element between pos and end is complete; return where parsing stopped.

    pydicom reads a truncated file without complaint (the last value is simply short), so the
    archive walks the element structure itself before trusting it. `meaningless` collects the
    byte ranges of elements PS3.5 gives no meaning (group lengths, data set trailing padding).
    """
    order = _le_or_be(little)
    while pos < end:
        start = pos
        if pos + 8 > end:
            raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "Truncated data element header.")
        group, element = struct.unpack_from(order + "HH", buf, pos)
        tag = (group << 16) | element
        if tag in (ITEM_END_TAG, SEQUENCE_END_TAG):
            return pos
        if implicit or group == 0xFFFE:
            length = struct.unpack_from(order + "I", buf, pos + 4)[0]
            vr = b"SQ" if length == UNDEFINED_LENGTH else b""
            pos += 8
        else:
            vr = buf[pos + 4 : pos + 6]
            if vr in LONG_LENGTH_VRS:
                if pos + 12 > end:
                    raise DicomRejected(
                        FailureReason.CANNOT_UNDERSTAND, "Truncated data element header."
                    )
                length = struct.unpack_from(order + "I", buf, pos + 8)[0]
                pos += 12
            else:
                length = struct.unpack_from(order + "H", buf, pos + 6)[0]
                pos += 8
        if length == UNDEFINED_LENGTH:
            pos = _walk_items(buf, pos, end, implicit, little)
        else:
            pos += length
            if pos > end:
                name = keyword_for_tag(tag) or f"({group:04X},{element:04X})"
                raise DicomRejected(
                    FailureReason.CANNOT_UNDERSTAND, f"The file is truncated inside {name}."
                )
            if meaningless is not None and (element == 0x0000 or tag == TRAILING_PADDING_TAG):
                meaningless.append((start, pos))
    return pos


def _walk_items(buf: bytes, pos: int, end: int, implicit: bool, little: bool) -> int:
    """Walk the items of an undefined-length sequence or encapsulated pixel data."""
    order = _le_or_be(little)
    while True:
        if pos + 8 > end:
            raise DicomRejected(
                FailureReason.CANNOT_UNDERSTAND, "The file ends inside a sequence or pixel data."
            )
        group, element, length = struct.unpack_from(order + "HHI", buf, pos)
        tag = (group << 16) | element
        pos += 8
        if tag == SEQUENCE_END_TAG:
            return pos
        if tag != ITEM_TAG:
            raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "Malformed sequence item.")
        if length == UNDEFINED_LENGTH:
            pos = _walk_dataset(buf, pos, end, implicit, little)
            if pos + 8 > end or _tag_at(buf, pos, order) != ITEM_END_TAG:
                raise DicomRejected(
                    FailureReason.CANNOT_UNDERSTAND, "The file ends inside a sequence item."
                )
            pos += 8
        else:
            pos += length
            if pos > end:
                raise DicomRejected(
                    FailureReason.CANNOT_UNDERSTAND, "The file is truncated inside an item."
                )


def _tag_at(buf: bytes, pos: int, order: str) -> int:
    group, element = struct.unpack_from(order + "HH", buf, pos)
    return int((group << 16) | element)


def _check_complete(data: bytes, dataset_offset: int, transfer_syntax: UID) -> str:
    """Check that the data set is whole; return the SHA-256 of its content.

    The content is the data set's top-level elements as encoded, less group lengths and data
    set trailing padding: PS3.5 gives those no meaning and senders add or drop them (dcmtk
    drops the padding), so they must not make one instance look like two.
    """
    meaningless: list[tuple[int, int]] = []
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            body = inflater.decompress(data[dataset_offset:])
        except zlib.error as exc:
            raise DicomRejected(
                FailureReason.CANNOT_UNDERSTAND, "The deflated data set is corrupt."
            ) from exc
        if not inflater.eof:
            raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "The deflated data set is cut.")
        _walk_dataset(body, 0, len(body), implicit=False, little=True, meaningless=meaningless)
        return sha256_skipping(body, 0, meaningless)
    end = _walk_dataset(
        data,
        dataset_offset,
        len(data),
        implicit=transfer_syntax.is_implicit_VR,
        little=transfer_syntax.is_little_endian,
        meaningless=meaningless,
    )
    if end != len(data):
        raise DicomRejected(
            FailureReason.CANNOT_UNDERSTAND, "Unexpected delimiter at the top of the data set."
        )
    return sha256_skipping(data, dataset_offset, meaningless)


def sha256_skipping(buf: bytes, start: int, skipped: list[tuple[int, int]]) -> str:
    """The SHA-256 of `buf` from `start`, less the (start, end) byte ranges in `skipped`."""
    digest = hashlib.sha256()
    view = memoryview(buf)
    for skip_start, skip_end in skipped:
        digest.update(view[start:skip_start])
        start = skip_end
    digest.update(view[start:])
    return digest.hexdigest()


def dataset_sha256(data: bytes) -> str:
    """The content hash `instance_parse` gives a stored, already checked Part 10 file."""
    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
    return _check_complete(data, dataset_start(data), UID(str(meta.TransferSyntaxUID)))


def meta_transfer_syntax(data: bytes) -> UID | None:
    """The file meta's TransferSyntaxUID, if the file has a preamble and it is a known one."""
    if data[128:132] != b"DICM":
        return None
    pos = 132
    try:
        while pos + 8 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:
            element = struct.unpack_from("<H", data, pos + 2)[0]
            vr = data[pos + 4 : pos + 6]
            long_form = vr in LONG_LENGTH_VRS
            length = struct.unpack_from(
                "<I" if long_form else "<H", data, pos + (8 if long_form else 6)
            )[0]
            start = pos + (12 if long_form else 8)
            if element == 0x0010:
                uid = UID(data[start : start + length].decode("ascii").strip("\0 "))
                return uid if uid.is_transfer_syntax else None
            pos = start + length
    except (struct.error, UnicodeDecodeError):
        return None
    return None


def complete_content_sha256(data: bytes, offset: int, transfer_syntax: UID) -> str:
    """Check that the data set at `offset` is whole (a truncated file is rejected); return the
    SHA-256 of its content."""
    try:
        return _check_complete(data, offset, transfer_syntax)
    except struct.error as exc:
        raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "The file is truncated.") from exc


def frame_fragments(
    data: bytes, pixel_data_at: int | None, transfer_syntax: UID, frames: int
) -> list[list[list[int]]]:
    """Where each frame of encapsulated pixel data lies in the file.

    `pixel_data_at` is where the Pixel Data value (its offset table item) starts. One list per
    frame of [offset, length] pairs, one per fragment; [] when the fragments do not map to
    frames without decoding them (several per frame and no Basic Offset Table).
    """
    if pixel_data_at is None or not transfer_syntax.is_encapsulated or frames < 1:
        return []
    start = pixel_data_at
    if start + 8 > len(data) or _tag_at(data, start, "<") != ITEM_TAG:
        return []
    table_length = int(struct.unpack_from("<I", data, start + 4)[0])
    table = list(struct.unpack_from(f"<{table_length // 4}I", data, start + 8))
    first = pos = start + 8 + table_length
    fragments: list[tuple[int, list[int]]] = []  # (offset from the first fragment, [at, length])
    while pos + 8 <= len(data) and _tag_at(data, pos, "<") == ITEM_TAG:
        length = int(struct.unpack_from("<I", data, pos + 4)[0])
        fragments.append((pos - first, [pos + 8, length]))
        pos += 8 + length
    if len(table) == frames:
        bounds = [*table, pos - first]
        return [
            [at for start, at in fragments if bounds[index] <= start < bounds[index + 1]]
            for index in range(frames)
        ]
    if len(fragments) == frames:
        return [[at] for _, at in fragments]
    if frames == 1:
        return [[at for _, at in fragments]]
    return []


def dataset_start(data: bytes) -> int:
    """Byte offset where the data set starts, after the preamble and the file meta group."""
    pos = 132
    # (0002,0000) File Meta Information Group Length is explicit VR little endian, UL.
    group, element = struct.unpack_from("<HH", data, pos)
    if (group, element) == (0x0002, 0x0000) and data[pos + 4 : pos + 6] == b"UL":
        return pos + 12 + int(struct.unpack_from("<I", data, pos + 8)[0])
    # No group length: walk the meta elements, which are always explicit VR little endian.
    while pos + 8 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:
        vr = data[pos + 4 : pos + 6]
        if vr in LONG_LENGTH_VRS:
            pos += 12 + int(struct.unpack_from("<I", data, pos + 8)[0])
        else:
            pos += 8 + int(struct.unpack_from("<H", data, pos + 6)[0])
    return pos
