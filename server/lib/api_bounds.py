"""The JSON API's bounds on its inputs: DRF's pagination and JSON parser, each with a maximum.

Kept apart from `server/lib/api.py`: DRF reads these classes from settings while it defines its
views, and `api.py` imports those views.
"""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request

from server.web.paging import MAX_LIMIT, MAX_OFFSET, OffsetInvalid, offset_parse


class ApiPagination(LimitOffsetPagination):
    """DRF's limit and offset within the bounds of every listing (`server/web/paging.py`): a
    larger limit is cut to the maximum, as DRF does; an offset beyond it is a 400 naming it."""

    max_limit = MAX_LIMIT

    def get_offset(self, request: Request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is not None and raw.isascii() and raw.isdigit():
            try:
                return offset_parse(raw, name=self.offset_query_param, maximum=MAX_OFFSET)
            except OffsetInvalid as exc:
                raise serializers.ValidationError({self.offset_query_param: [str(exc)]}) from exc
        return super().get_offset(request)


# Far deeper than any body the API takes (annotations nest a few levels); a deeper one is a bomb.
MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: object, limit: int) -> bool:
    """Whether `value` nests arrays and objects deeper than `limit` (walked without recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class ApiJsonParser(JSONParser):
    """DRF's JSON parser, refusing nesting deeper than MAX_JSON_DEPTH with a 400 in words
    (Python's parser would fail with a RecursionError, a 500, long before memory runs out)."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        too_deep = ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise too_deep from exc
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise too_deep
        return data
