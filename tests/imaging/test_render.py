"""Frame access, windowing and encoding on pydicom's own test files, and WADO negotiation."""

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset

from imaging.render import (
    RenderError,
    Viewport,
    VoiFunction,
    Window,
    dataset_read,
    element_at,
    frame_count,
    frame_native,
    frame_pixels,
    frame_render,
    frame_uncompressed,
    image_encode,
    own_window,
    window_apply,
)
from imaging.wado import (
    OCTET_STREAM,
    UNCOMPRESSED,
    ParameterInvalid,
    frame_numbers_parse,
    frames_negotiate,
    image_type_negotiate,
    render_params_parse,
)
from tests.imaging.conftest import dicom_file

J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def _ds(name: str) -> Dataset:
    return dataset_read(dicom_file(name))


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


# One file per transfer syntax the plugins must decode (pydicom and pydicom-data files).
DECODABLE = [
    ("CT_small.dcm", 1),  # explicit VR little endian
    ("MR_small_implicit.dcm", 1),  # implicit VR little endian
    ("MR_small_bigendian.dcm", 1),  # explicit VR big endian
    ("SC_rgb_jpeg_dcmtk.dcm", 1),  # JPEG baseline, YBR_FULL
    ("JPEG-LL.dcm", 1),  # JPEG lossless SV1
    ("MR_small_jpeg_ls_lossless.dcm", 1),  # JPEG-LS lossless
    ("JPEGLSNearLossless_16.dcm", 1),  # JPEG-LS near-lossless
    ("JPEG2000.dcm", 1),  # JPEG 2000
    ("US1_J2KR.dcm", 1),  # JPEG 2000 lossless, YBR_RCT colour
    ("MR_small_RLE.dcm", 1),  # RLE lossless
    ("SC_rgb_rle.dcm", 1),  # RLE lossless colour
    ("emri_small_RLE.dcm", 10),  # multi-frame RLE
    ("emri_small_jpeg_ls_lossless.dcm", 10),  # multi-frame JPEG-LS
    ("emri_small_jpeg_2k_lossless.dcm", 10),  # multi-frame JPEG 2000
    ("color3d_jpeg_baseline.dcm", 120),  # the 120-frame ultrasound, JPEG baseline
]


@pytest.mark.parametrize(("name", "frames"), DECODABLE)
def test_every_transfer_syntax_decodes_and_renders_its_last_frame(name: str, frames: int) -> None:
    ds = _ds(name)
    assert frame_count(ds) == frames
    pixels = frame_pixels(ds, frames - 1)
    assert pixels.shape[:2] == (ds.Rows, ds.Columns)
    image = frame_render(ds, frames - 1, viewport=Viewport(64, 64))
    assert max(image.size) == 64
    assert np.asarray(image).std() > 0  # not a blank image
    assert Image.open(io.BytesIO(image_encode(image, "image/png"))).size == image.size


def test_one_frame_of_multi_frame_matches_the_full_decode() -> None:
    ds = _ds("emri_small_jpeg_2k_lossless.dcm")
    full = _ds("emri_small.dcm").pixel_array
    assert np.array_equal(frame_pixels(ds, 6), full[6])
    assert frame_uncompressed(ds, 6) == full[6].astype("<u2").tobytes()


def test_native_frame_is_the_stored_codestream_of_that_frame_only() -> None:
    ds = _ds("color3d_jpeg_baseline.dcm")
    first, last = frame_native(ds, 0), frame_native(ds, 119)
    assert first.startswith(b"\xff\xd8")  # JPEG SOI
    assert last.startswith(b"\xff\xd8")
    assert first != last
    assert len(first) < len(ds.PixelData) / 50


def test_uncompressed_frame_is_a_slice_of_native_pixel_data() -> None:
    ds = _ds("emri_small.dcm")
    size = ds.Rows * ds.Columns * 2
    assert frame_uncompressed(ds, 3) == ds.PixelData[3 * size : 4 * size]


def test_frame_past_the_end_of_encapsulated_data_is_refused() -> None:
    with pytest.raises(RenderError):
        frame_native(_ds("emri_small_RLE.dcm"), 10)


def test_own_window_is_read_from_the_instance() -> None:
    assert own_window(_ds("MR_small.dcm")) == Window(600.0, 1600.0, VoiFunction.LINEAR)
    assert own_window(_ds("CT_small.dcm")) is None


def test_window_changes_the_rendered_pixels() -> None:
    ds = _ds("CT_small.dcm")
    wide = _grey(frame_render(ds, 0, window=Window(40, 4000)))
    narrow = _grey(frame_render(ds, 0, window=Window(40, 80)))
    # A narrow window saturates: more pixels reach black or white, and contrast rises.
    saturated = (np.isin(narrow, (0, 255))).mean()
    assert saturated > (np.isin(wide, (0, 255))).mean() + 0.2
    assert narrow.std() > wide.std()


def test_without_a_window_min_and_max_span_the_output() -> None:
    grey = _grey(frame_render(_ds("CT_small.dcm"), 0))
    assert (grey.min(), grey.max()) == (0, 255)


def test_rescale_slope_and_intercept_are_applied_before_windowing() -> None:
    ds = _ds("CT_small.dcm")
    plain = _grey(frame_render(ds, 0, window=Window(40, 400)))
    ds.RescaleIntercept = float(ds.RescaleIntercept) - 1000
    shifted = _grey(frame_render(ds, 0, window=Window(-960, 400)))
    assert np.array_equal(plain, shifted)
    assert plain.std() > 0


def test_window_functions_differ_but_agree_at_the_center() -> None:
    values = np.array([0.0, 50.0, 100.0])
    linear = window_apply(values, Window(50, 100, VoiFunction.LINEAR))
    sigmoid = window_apply(values, Window(50, 100, VoiFunction.SIGMOID))
    exact = window_apply(values, Window(50, 100, VoiFunction.LINEAR_EXACT))
    assert abs(sigmoid[1] - 127.5) < 0.01
    assert abs(exact[1] - 127.5) < 0.01
    assert 0 < sigmoid[0] < linear[2]
    assert (exact[0], exact[2]) == (0, 255)


def test_monochrome1_is_inverted() -> None:
    mono2 = _ds("MR_small.dcm")
    mono1 = _ds("MR_small.dcm")
    mono1.PhotometricInterpretation = "MONOCHROME1"
    normal = _grey(frame_render(mono2, 0))
    inverted = _grey(frame_render(mono1, 0))
    assert np.array_equal(inverted, 255 - normal)


def test_real_monochrome1_chest_renders_bright_bones_on_dark_air() -> None:
    # RG1 is a MONOCHROME1 CR: raw air values are high, so after inversion the border is dark.
    image = _grey(frame_render(_ds("RG1_J2KR.dcm"), 0, viewport=Viewport(128, 128)))
    border = np.concatenate([image[:4].ravel(), image[-4:].ravel()])
    assert border.mean() < image.mean()


def test_viewport_crops_flips_and_fits() -> None:
    ds = _ds("CT_small.dcm")
    full = frame_render(ds, 0)
    assert frame_render(ds, 0, viewport=Viewport(64, 32)).size == (32, 32)
    crop = frame_render(ds, 0, viewport=Viewport(32, 32, (0, 0, 32, 32)))
    assert np.array_equal(np.asarray(crop), np.asarray(full.crop((0, 0, 32, 32))))
    flipped = frame_render(ds, 0, viewport=Viewport(32, 32, (32, 0, -32, 32)))
    assert np.array_equal(
        np.asarray(flipped),
        np.asarray(full.crop((0, 0, 32, 32)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    )


def test_jpeg_quality_changes_the_encoded_size() -> None:
    image = frame_render(_ds("MR_small.dcm"), 0)
    assert len(image_encode(image, "image/jpeg", 95)) > len(image_encode(image, "image/jpeg", 10))
    assert image_encode(image, "image/webp").startswith(b"RIFF")


def test_element_at_follows_bulk_data_paths() -> None:
    ds = _ds("CT_small.dcm")
    element = element_at(ds, "7FE00010")
    assert element is not None
    assert element.value == ds.PixelData
    assert element_at(ds, "7FE00010/0") is None
    assert element_at(ds, "nothex") is None


# --- Negotiation ------------------------------------------------------------------------------


def test_frame_list_parsing() -> None:
    assert frame_numbers_parse("3,1,2") == [3, 1, 2]
    for bad in ("", "0", "1,,2", "a", "-1", "1.5"):
        with pytest.raises(ParameterInvalid):
            frame_numbers_parse(bad)


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="image/jp2"; transfer-syntax=*',
        'multipart/related; type="image/jp2"; transfer-syntax="*"',
        "multipart/related; type=image/jp2",
        'multipart/related; type="*/*"; transfer-syntax=*',
        'multipart/related; type="*/*"',
        'multipart/related; type="image/*"; transfer-syntax=1.2.840.10008.1.2.4.90',
    ],
)
def test_compressed_frames_pass_through_when_accepted(accept: str) -> None:
    plan = frames_negotiate(accept, J2K_LOSSLESS, decodable=True)
    assert plan is not None
    assert plan.native
    assert plan.part_type == f"image/jp2; transfer-syntax={J2K_LOSSLESS}"


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "*/*",
        'multipart/related; type="application/octet-stream"',
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        'multipart/related; type="*/*"; transfer-syntax=1.2.840.10008.1.2.1',
    ],
)
def test_frames_are_decoded_when_only_uncompressed_is_accepted(accept: str) -> None:
    plan = frames_negotiate(accept, J2K_LOSSLESS, decodable=True)
    assert plan is not None
    assert not plan.native
    assert (plan.media_type, plan.transfer_syntax) == (OCTET_STREAM, UNCOMPRESSED)


def test_frames_negotiation_refuses_what_cannot_be_produced() -> None:
    jpeg_only = 'multipart/related; type="image/jpeg"'
    assert frames_negotiate(jpeg_only, J2K_LOSSLESS, decodable=True) is None
    assert frames_negotiate(jpeg_only, UNCOMPRESSED, decodable=True) is None
    octet = 'multipart/related; type="application/octet-stream"'
    assert frames_negotiate(octet, "1.2.840.10008.1.2.4.100", decodable=False) is None
    assert frames_negotiate("text/html", JPEG_BASELINE, decodable=True) is None


def test_rendered_media_type_and_parameters() -> None:
    assert image_type_negotiate("") == "image/jpeg"
    assert image_type_negotiate("image/png, image/jpeg") == "image/png"
    assert image_type_negotiate("text/html", "image/webp") == "image/webp"
    assert image_type_negotiate("*/*") == "image/jpeg"
    assert image_type_negotiate("application/dicom") is None
    params = render_params_parse(
        {"window": "40,400,linear-exact", "viewport": "256,128,0,0,64,-64", "quality": "70"}
    )
    assert params.window == Window(40, 400, VoiFunction.LINEAR_EXACT)
    assert params.viewport == Viewport(256, 128, (0, 0, 64, -64))
    assert params.quality == 70
    bad = [
        {"window": "40"},
        {"window": "40,0,linear"},
        {"window": "40,400,cubic"},
        {"viewport": "0,10"},
        {"viewport": "10,10,1"},
        {"viewport": "99999,10"},
        {"quality": "0"},
        {"quality": "101"},
        {"quality": "high"},
    ]
    for query in bad:
        with pytest.raises(ParameterInvalid):
            render_params_parse(query)
