"""WADO-RS frames, rendered images, thumbnails and bulk data.

Decoding is capped per decode (413) and per process (503, imaging.budget). A response of
several frames or images is streamed, one decode at a time: the first is made before the
response starts, so that what fails for all of them is still answered with a status in words.
"""

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from pydicom.dataset import Dataset

from imaging.budget import HOLD_WAIT_SECONDS
from imaging.dicom_metadata import PIXEL_DATA_TAGS
from imaging.dicomweb.common import (
    Caller,
    decode_budget,
    error_response,
    stored_bytes,
    stored_frames,
    too_large_response,
)
from imaging.lossy import JPEG2000_LOSSY
from imaging.models import Instance, PreviewState, ViewingKind
from imaging.multipart import boundary_new, closing, part_head
from imaging.render import (
    DecodeTooLarge,
    RenderError,
    can_decode,
    dataset_read,
    decode_admit,
    element_at,
    frame_decoded_bytes,
    frame_native,
    frame_render,
    frame_uncompressed,
    image_encode,
    uncompressed_cost,
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


Key = TypeVar("Key")


def _streamed(
    first: bytes,
    make: Callable[[Key], bytes],
    keys: list[Key],
    part_type: str,
    media_type: str,
    *,
    one_part: bool = False,
) -> HttpResponseBase:
    """A multipart response of `first` and then `make(key)` for each key, made in a worker
    thread as the client reads; all in one part when `one_part` (bulk pixel data).

    A body that fails after the response started ends it without the closing delimiter, which
    a client reads as a broken response.
    """
    if not keys:
        return _multipart([first], part_type, media_type)
    boundary = boundary_new()

    async def body() -> AsyncIterator[bytes]:
        yield part_head(boundary, part_type, first=True)
        yield first
        for key in keys:
            part = await sync_to_async(make, thread_sensitive=False)(key)
            if not one_part:
                yield part_head(boundary, part_type)
            yield part
        yield closing(boundary)

    response = StreamingHttpResponse(
        body(), content_type=f'multipart/related; type="{media_type}"; boundary={boundary}'
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


def _decoded_frame(ds: Dataset, plan: FramePlan, number: int, *, wait: float) -> bytes:
    """Frame `number` (1-based) as the plan sends it, holding its decode's memory."""
    if plan.media_type != OCTET_STREAM:
        return frame_native(ds, number - 1)
    limit = settings.IMAGING_DECODE_MAX_BYTES
    with decode_budget().hold(uncompressed_cost(ds), wait=wait):
        return frame_uncompressed(ds, number - 1, max_bytes=limit)


def _frames_response(
    instance: Instance, plan: FramePlan, numbers: list[int], *, one_part: bool = False
) -> HttpResponseBase:
    """The frames as the plan sends them: read from their fragments when stored compressed,
    else sliced or decoded one at a time. Raises: RenderError, BudgetSpent."""
    if plan.native and plan.media_type != OCTET_STREAM and instance.frame_fragments:
        # Compressed frames as stored: read only their fragments, not the whole file.
        fragments = instance.frame_fragments

        def stored(number: int) -> bytes:
            return stored_frames(instance.storage_name, [fragments[number - 1]])[0]

        return _streamed(stored(numbers[0]), stored, numbers[1:], plan.part_type, plan.media_type)
    ds = dataset_read(stored_bytes(instance.storage_name))
    limit = settings.IMAGING_DECODE_MAX_BYTES
    if plan.media_type == OCTET_STREAM and uncompressed_cost(ds):
        # daphne buffers what the client has not read yet, so the response as a whole is
        # capped too (frames sent as stored add up to no more than the stored file).
        total = len(numbers) * frame_decoded_bytes(ds)
        if total > limit:
            raise DecodeTooLarge(total, limit)

    def decoded(number: int) -> bytes:
        return _decoded_frame(ds, plan, number, wait=HOLD_WAIT_SECONDS)

    first = _decoded_frame(ds, plan, numbers[0], wait=0)
    return _streamed(
        first, decoded, numbers[1:], plan.part_type, plan.media_type, one_part=one_part
    )


def _decode_refused(exc: RenderError, what: str, alternative: str) -> HttpResponse:
    """413 for a decode over the cap, else 406 naming what failed."""
    if isinstance(exc, DecodeTooLarge):
        return too_large_response(exc.cost, exc.limit, alternative)
    return error_response(406, f"{what}: {exc}")


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
) -> HttpResponseBase:
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
        return _frames_response(item, plan, numbers)
    except RenderError as exc:
        return _decode_refused(
            exc, "The frames cannot be decoded here", f"as stored ({item.transfer_syntax_uid})"
        )


def _render_setup(request: HttpRequest) -> tuple[str, RenderParams] | HttpResponse:
    media_type = image_type_negotiate(
        request.META.get("HTTP_ACCEPT", ""), request.GET.get("accept")
    )
    if media_type is None:
        return error_response(406, "Rendered images are image/jpeg, image/png or image/webp.")
    return media_type, render_params_parse({key: request.GET[key] for key in request.GET})


def _rendered_bytes(
    instance: Instance, index: int, params: RenderParams, media_type: str, *, wait: float = 0
) -> bytes:
    """One frame rendered and encoded, holding its decode's memory.

    Raises: RenderError (DecodeTooLarge above the cap), BudgetSpent.
    """
    ds = dataset_read(stored_bytes(instance.storage_name))
    limit = settings.IMAGING_DECODE_MAX_BYTES
    with decode_budget().hold(decode_admit(ds, max_bytes=limit), wait=wait):
        image = frame_render(
            ds, index, window=params.window, viewport=params.viewport, max_bytes=limit
        )
    return image_encode(image, media_type, params.quality)


def _render_refused(exc: RenderError) -> HttpResponse:
    return _decode_refused(
        exc, "The image cannot be rendered here", "as frames in its stored transfer syntax"
    )


def rendered(
    request: HttpRequest,
    caller: Caller,
    study: str,
    series: str | None = None,
    instance: str | None = None,
    frames: str | None = None,
) -> HttpResponseBase:
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
    index = numbers[0] - 1
    try:
        first = _rendered_bytes(items[0], index, params, media_type)
    except RenderError as exc:
        return _render_refused(exc)
    if instance is not None:
        return _image(first, media_type)

    def render(item: Instance) -> bytes:
        return _rendered_bytes(item, index, params, media_type, wait=HOLD_WAIT_SECONDS)

    return _streamed(first, render, items[1:], media_type, media_type)


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
        return _render_refused(exc)


def bulkdata(
    request: HttpRequest, caller: Caller, study: str, series: str, instance: str, path: str
) -> HttpResponseBase:
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
        return _frames_response(item, plan, numbers, one_part=plan.media_type == OCTET_STREAM)
    except RenderError as exc:
        return _decode_refused(
            exc,
            "The pixel data cannot be decoded here",
            f"as stored ({item.transfer_syntax_uid})",
        )
