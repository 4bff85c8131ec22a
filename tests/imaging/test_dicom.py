"""Parsing and checking DICOM bytes before anything is stored."""

import io
import json

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from imaging.dicom import DicomRejected, FailureReason, instance_parse
from imaging.dicom_metadata import bulk_data_uris_resolve
from imaging.render import dataset_read, frame_native
from tests.imaging.conftest import dataset_bytes, dicom_file


def _chinese_dataset(charset: str, name: str) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.88.11")
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        setattr(ds, keyword, generate_uid())
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "HC001"
    ds.StudyDescription = "胸部平片"
    ds.PatientName = name
    # Encode with the codec the character set names, as a Chinese modality would.
    codec = {"GBK": "gbk", "GB18030": "gb18030", "ISO_IR 58": "gb2312"}[charset]
    raw = dataset_bytes(ds)
    return raw.replace(name.encode("utf-8"), name.encode(codec)).replace(
        "胸部平片".encode(), "胸部平片".encode(codec)
    )


@pytest.mark.parametrize("charset", ["GBK", "GB18030", "ISO_IR 58"])
def test_instance_parse_decodes_chinese_character_sets_to_unicode(charset: str) -> None:
    parsed = instance_parse(_chinese_dataset(charset, "李^秀英"))
    assert parsed.patient_name == "李^秀英"
    assert parsed.study_description == "胸部平片"


def test_instance_parse_reads_gb18030_and_utf8_files_from_pydicom() -> None:
    assert instance_parse(dicom_file("chrX2.dcm")).patient_name == "Wang^XiaoDong=王^小东"
    assert instance_parse(dicom_file("chrX1.dcm")).patient_name == "Wang^XiaoDong=王^小東"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", FailureReason.CANNOT_UNDERSTAND),
        (b"%PDF-1.4 not dicom" * 20, FailureReason.CANNOT_UNDERSTAND),
        (dicom_file("MR_truncated.dcm"), FailureReason.CANNOT_UNDERSTAND),
        (dicom_file("CT_small.dcm")[:20_000], FailureReason.CANNOT_UNDERSTAND),
        (dicom_file("JPEG2000.dcm")[:-40], FailureReason.CANNOT_UNDERSTAND),
        (dicom_file("meta_missing_tsyntax.dcm"), FailureReason.CANNOT_UNDERSTAND),
        (dicom_file("no_meta.dcm"), FailureReason.CANNOT_UNDERSTAND),
    ],
    ids=["zero-byte", "not-dicom", "truncated", "cut-pixels", "cut-fragments", "no-ts", "no-meta"],
)
def test_instance_parse_rejects_broken_files_with_a_reason(
    data: bytes, reason: FailureReason
) -> None:
    with pytest.raises(DicomRejected) as caught:
        instance_parse(data)
    assert caught.value.reason is reason
    assert caught.value.message


def test_instance_parse_rejects_an_image_cut_between_elements() -> None:
    data = dicom_file("CT_small.dcm")
    cut = data.index(b"\x28\x00\x10\x00")  # (0028,0010) Rows: everything after it is gone
    with pytest.raises(DicomRejected) as caught:
        instance_parse(data[:cut])
    assert caught.value.reason is FailureReason.DATA_SET_DOES_NOT_MATCH


def test_instance_parse_requires_the_uids() -> None:
    ds = pydicom.dcmread(io.BytesIO(dicom_file("rtplan.dcm")))
    del ds.SeriesInstanceUID
    with pytest.raises(DicomRejected) as caught:
        instance_parse(dataset_bytes(ds))
    assert caught.value.reason is FailureReason.DATA_SET_DOES_NOT_MATCH
    assert "SeriesInstanceUID" in caught.value.message


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "JPEG2000.dcm",
        "MR_small_RLE.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "image_dfl.dcm",
        "US1_J2KR.dcm",
    ],
)
def test_instance_json_puts_pixel_data_behind_a_bulk_data_uri(name: str) -> None:
    parsed = instance_parse(dicom_file(name))
    metadata = json.loads(bulk_data_uris_resolve(parsed.metadata_json, "/bulk/"))
    assert metadata["7FE00010"] == {
        "vr": metadata["7FE00010"]["vr"],
        "BulkDataURI": "/bulk/7FE00010",
    }
    assert metadata["00080018"]["Value"] == [parsed.sop_instance_uid]
    assert metadata["00020010"]["Value"] == [parsed.transfer_syntax_uid]


@pytest.mark.parametrize(
    ("name", "frames"),
    [
        ("color3d_jpeg_baseline.dcm", 120),
        ("emri_small_jpeg_2k_lossless.dcm", 10),
        ("emri_small_RLE.dcm", 10),
        ("JPEG2000.dcm", 1),
    ],
)
def test_frame_fragments_locate_each_stored_frame_in_the_file(name: str, frames: int) -> None:
    data = dicom_file(name)
    parsed = instance_parse(data)
    assert len(parsed.frame_fragments) == frames
    ds = dataset_read(data)
    for index, fragments in enumerate(parsed.frame_fragments):
        assert b"".join(data[at : at + length] for at, length in fragments) == frame_native(
            ds, index
        )


def test_frame_fragments_are_empty_for_native_pixel_data() -> None:
    assert instance_parse(dicom_file("CT_small.dcm")).frame_fragments == []


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "rtplan.dcm",
        "chrX1.dcm",
        "chrX2.dcm",
        "chrH31.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
    ],
)
def test_instance_json_gives_pydicoms_values(name: str) -> None:
    """The raw-bytes decoding agrees with pydicom's element by element (padding aside)."""
    ds = dataset_read(dicom_file(name))
    metadata = json.loads(instance_parse(dicom_file(name)).metadata_json)
    for element in ds:
        if element.VR == "SQ" or element.keyword == "SpecificCharacterSet":
            continue
        expected = element.to_json_dict(None, 1024)
        ours = metadata[f"{int(element.tag):08X}"]
        if "BulkDataURI" in ours:
            continue
        expected_values = expected.get("Value")
        if expected_values is not None and element.VR in ("AE", "AS", "CS", "DA", "DT", "TM", "UI"):
            expected_values = [v.strip() if isinstance(v, str) else v for v in expected_values]
        assert (ours.get("Value"), ours.get("InlineBinary")) == (
            expected_values,
            expected.get("InlineBinary"),
        ), element.keyword
