"""Serving a stored instance in Explicit VR Little Endian, decompressing its pixel data."""

import io

import pydicom
from pydicom.uid import UID, ExplicitVRLittleEndian

from imaging.render import DECODE_WORK_BYTES_PER_SAMPLE

# Copies of the decoded pixel data alive at once while pydicom decompresses and writes a file
# (the array, its bytes in the data set, the written file), besides one frame's decoding.
_TRANSCODE_COPIES = 3


class TranscodeUnsupported(Exception):
    """The stored instance cannot be converted to the requested transfer syntax."""


class TranscodeTooLarge(TranscodeUnsupported):
    """Decompressing the instance would take more memory than one decode may use."""


def transcode_cost(*, rows: int, columns: int, samples: int, bits: int, frames: int) -> int:
    """The memory decompressing a whole instance of this geometry into a file takes."""
    frame_samples = rows * columns * samples
    decoded = frame_samples * -(-bits // 8) * max(frames, 1)
    return _TRANSCODE_COPIES * decoded + DECODE_WORK_BYTES_PER_SAMPLE * frame_samples


def transcode_explicit_le(data: bytes, *, max_bytes: int) -> bytes:
    """Re-encode a stored instance in Explicit VR Little Endian, decompressing its pixel data.

    Raises: TranscodeTooLarge above `max_bytes` of working memory; TranscodeUnsupported for
    big-endian or undecodable instances.
    """
    ds = pydicom.dcmread(io.BytesIO(data))
    transfer_syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if transfer_syntax == ExplicitVRLittleEndian:
        return data
    if not transfer_syntax.is_little_endian:
        raise TranscodeUnsupported("Big endian instances are served only as stored.")
    try:
        if transfer_syntax.is_compressed and "PixelData" in ds:
            cost = transcode_cost(
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                samples=int(ds.get("SamplesPerPixel") or 1),
                bits=int(ds.BitsAllocated),
                frames=int(ds.get("NumberOfFrames") or 1),
            )
            if cost > max_bytes:
                raise TranscodeTooLarge(
                    f"decompressing it needs about {-(-cost // 2**20)} MiB of memory and this "
                    f"server decodes at most {max_bytes // 2**20} MiB at once"
                )
            # Same instance in another transfer syntax (PS3.18 8.7.3.5): keep its UID.
            ds.decompress(generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True, implicit_vr=False, little_endian=True)
    except TranscodeTooLarge:
        raise
    except Exception as exc:  # decoder plugins raise many types
        raise TranscodeUnsupported(f"Cannot decode {transfer_syntax}: {exc}") from exc
    return out.getvalue()
