"""WADO-RS frames, rendered images, thumbnails and bulk data."""

from django.http import HttpRequest, HttpResponse

from imaging.dicom_metadata import PIXEL_DATA_TAGS
from imaging.dicomweb.common import Caller, error_response, stored_bytes, stored_frames
from imaging.lossy import JPEG2000_LOSSY
from imaging.models import Instance, PreviewState, ViewingKind
from imaging.multipart import boundary_new, closing, part_head
from imaging.render import (
    RenderError,
    can_decode,
    dataset_read,
    element_at,
    frame_native,
    frame_render,
    frame_uncompressed,
    image_encode,
)
from imaging.selectors import (
    instance_get_for_user,
    instances_of,
    series_for_thumbnail,
    series_preview_source,
    study_get_for_user,
)
from imaging.services import PREVIEW_MEDIA_TYPE, THUMBNAIL_VIEWPORT, instance_lossy_frame
from imaging.wado import (
    OCTET_STREAM,
    UNCOMPRESSED,
    FramePlan,
    RenderParams,
    frame_numbers_parse,
    frames_negotiate,
    image_type_negotiate,
    lossy_part_type,
    render_params_parse,
)


def _instance_for(caller: Caller, study: str, series: str, instance: str) -> Instance:
    return instance_get_for_user(
        user=caller.user,
        study_uid=study,
        series_uid=series,
        instance_uid=instance,
        session=caller.session,
        kind=ViewingKind.RETRIEVE,
    )


def _multipart(parts: list[bytes], part_type: str, media_type: str) -> HttpResponse:
    boundary = boundary_new()
    body = b"".join(
        part_head(boundary, part_type, first=index == 0) + part for index, part in enumerate(parts)
    )
    response = HttpResponse(
        body + closing(boundary),
        content_type=f'multipart/related; type="{media_type}"; boundary={boundary}',
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _image(data: bytes, media_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=media_type)
    response["Cache-Control"] = "private, no-store"
    return response


def _frame_plan(request: HttpRequest, syntax: str) -> FramePlan | None:
    accept = request.META.get("HTTP_ACCEPT", "")
    return frames_negotiate(accept, syntax, decodable=can_decode(syntax))


def _frame_bodies(instance: Instance, plan: FramePlan, numbers: list[int]) -> list[bytes]:
    if plan.native and plan.media_type != OCTET_STREAM and instance.frame_fragments:
        # Compressed frames as stored: read only their fragments, not the whole file.
        return stored_frames(
            instance.storage_name, [instance.frame_fragments[n - 1] for n in numbers]
        )
    ds = dataset_read(stored_bytes(instance.storage_name))
    if plan.media_type == OCTET_STREAM:
        return [frame_uncompressed(ds, number - 1) for number in numbers]
    return [frame_native(ds, number - 1) for number in numbers]


def _lossy_frame_response(
    request: HttpRequest, instance: Instance, numbers: list[int]
) -> HttpResponse | None:
    """The diagnostic-quality lossy frame of a large image, when the client names its transfer
    syntax (JPEG 2000 irreversible) and the image has one; else None, to negotiate as usual."""
    part = lossy_part_type(request.META.get("HTTP_ACCEPT", ""), JPEG2000_LOSSY)
    if part is None or numbers != [1] or instance.transfer_syntax_uid == JPEG2000_LOSSY:
        return None
    try:
        data = instance_lossy_frame(instance=instance)
    except RenderError:
        return None
    if data is None:
        return None
    return _multipart([data], f"{part}; transfer-syntax={JPEG2000_LOSSY}", part)


def frames(
    request: HttpRequest, caller: Caller, study: str, series: str, instance: str, frames: str
) -> HttpResponse:
    """Retrieve frames: as stored when the client accepts that, else decoded one by one."""
    item = _instance_for(caller, study, series, instance)
    numbers = frame_numbers_parse(frames)
    if max(numbers) > item.number_of_frames:
        return error_response(404, f"The instance has {item.number_of_frames} frames.")
    lossy = _lossy_frame_response(request, item, numbers)
    if lossy is not None:
        return lossy
    plan = _frame_plan(request, item.transfer_syntax_uid)
    if plan is None:
        return error_response(
            406, f"Frames are available as {item.transfer_syntax_uid} or decoded."
        )
    try:
        bodies = _frame_bodies(item, plan, numbers)
    except RenderError as exc:
        return error_response(406, f"The frames cannot be decoded here: {exc}")
    return _multipart(bodies, plan.part_type, plan.media_type)


def _render_setup(request: HttpRequest) -> tuple[str, RenderParams] | HttpResponse:
    media_type = image_type_negotiate(
        request.META.get("HTTP_ACCEPT", ""), request.GET.get("accept")
    )
    if media_type is None:
        return error_response(406, "Rendered images are image/jpeg, image/png or image/webp.")
    return media_type, render_params_parse({key: request.GET[key] for key in request.GET})


def _rendered_bytes(instance: Instance, index: int, params: RenderParams, media_type: str) -> bytes:
    ds = dataset_read(stored_bytes(instance.storage_name))
    image = frame_render(ds, index, window=params.window, viewport=params.viewport)
    return image_encode(image, media_type, params.quality)


def rendered(
    request: HttpRequest,
    caller: Caller,
    study: str,
    series: str | None = None,
    instance: str | None = None,
    frames: str | None = None,
) -> HttpResponse:
    """Rendered study, series (multipart, one image per instance), instance or frame.

    A multi-frame instance renders its first frame; ask for frames/{n}/rendered for others.
    """
    setup = _render_setup(request)
    if isinstance(setup, HttpResponse):
        return setup
    media_type, params = setup
    numbers = frame_numbers_parse(frames) if frames is not None else [1]
    if len(numbers) != 1:
        return error_response(400, "Render one frame per request.")
    found = study_get_for_user(
        user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.RETRIEVE
    )
    items = [
        i
        for i in instances_of(study=found, series_uid=series, instance_uid=instance)
        if i.number_of_frames > 0
    ]
    if not items:
        return error_response(406, "There is no image to render.")
    if numbers[0] > items[0].number_of_frames:
        return error_response(404, f"The instance has {items[0].number_of_frames} frames.")
    try:
        images = [_rendered_bytes(i, numbers[0] - 1, params, media_type) for i in items]
    except RenderError as exc:
        return error_response(406, f"The image cannot be rendered here: {exc}")
    if instance is not None:
        return _image(images[0], media_type)
    return _multipart(images, media_type, media_type)


def thumbnail(
    request: HttpRequest,
    caller: Caller,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> HttpResponse:
    """A small image of a study, series or instance: the preview rendered at ingest when it
    is ready and fits the request, else rendered now."""
    setup = _render_setup(request)
    if isinstance(setup, HttpResponse):
        return setup
    media_type, params = setup
    found = study_get_for_user(
        user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.RETRIEVE
    )
    if instance is not None:
        source: Instance | None = instances_of(
            study=found, series_uid=series, instance_uid=instance
        )[0]
    else:
        chosen = series_for_thumbnail(study=found, series_uid=series)
        if (
            chosen.preview_state == PreviewState.READY
            and media_type == PREVIEW_MEDIA_TYPE
            and params == RenderParams()
        ):
            return _image(stored_bytes(chosen.thumbnail_name), media_type)
        source = series_preview_source(series=chosen)
    if source is None or source.number_of_frames == 0:
        return error_response(406, "There is no image to show.")
    params = RenderParams(
        window=params.window,
        viewport=params.viewport or THUMBNAIL_VIEWPORT,
        quality=params.quality,
    )
    try:
        return _image(_rendered_bytes(source, 0, params, media_type), media_type)
    except RenderError as exc:
        return error_response(406, f"The image cannot be rendered here: {exc}")


def bulkdata(
    request: HttpRequest, caller: Caller, study: str, series: str, instance: str, path: str
) -> HttpResponse:
    """The value a BulkDataURI in the stored metadata names; pixel data is sent like frames."""
    item = _instance_for(caller, study, series, instance)
    ds = dataset_read(stored_bytes(item.storage_name))
    element = element_at(ds, path)
    if element is None or not isinstance(element.value, bytes):
        return error_response(404, "No bulk data at this path.")
    # Only the instance's own pixel data is framed; an icon's inside a sequence is plain bytes.
    if element.tag not in PIXEL_DATA_TAGS or "/" in path.strip("/"):
        if frames_negotiate(request.META.get("HTTP_ACCEPT", ""), UNCOMPRESSED, decodable=True):
            return _multipart([element.value], OCTET_STREAM, OCTET_STREAM)
        return error_response(406, "Bulk data is application/octet-stream.")
    plan = _frame_plan(request, item.transfer_syntax_uid)
    if plan is None:
        return error_response(
            406, f"Pixel data is available as {item.transfer_syntax_uid} or decoded."
        )
    numbers = list(range(1, item.number_of_frames + 1))
    try:
        bodies = _frame_bodies(item, plan, numbers)
    except RenderError as exc:
        return error_response(406, f"The pixel data cannot be decoded here: {exc}")
    if plan.media_type == OCTET_STREAM:
        bodies = [b"".join(bodies)]
    return _multipart(bodies, plan.part_type, plan.media_type)
