"""Serving a stored instance in Explicit VR Little Endian, decompressing its pixel data."""

import io

import pydicom
from pydicom.uid import UID, ExplicitVRLittleEndian


class TranscodeUnsupported(Exception):
    """The stored instance cannot be converted to the requested transfer syntax."""


def transcode_explicit_le(data: bytes) -> bytes:
    """Re-encode a stored instance in Explicit VR Little Endian, decompressing its pixel data.

    Raises: TranscodeUnsupported for big-endian or undecodable instances.
    """
    ds = pydicom.dcmread(io.BytesIO(data))
    transfer_syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if transfer_syntax == ExplicitVRLittleEndian:
        return data
    if not transfer_syntax.is_little_endian:
        raise TranscodeUnsupported("Big endian instances are served only as stored.")
    try:
        if transfer_syntax.is_compressed and "PixelData" in ds:
            # Same instance in another transfer syntax (PS3.18 8.7.3.5): keep its UID.
            ds.decompress(generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True, implicit_vr=False, little_endian=True)
    except Exception as exc:  # decoder plugins raise many types
        raise TranscodeUnsupported(f"Cannot decode {transfer_syntax}: {exc}") from exc
    return out.getvalue()
