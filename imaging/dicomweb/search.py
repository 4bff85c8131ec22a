"""QIDO-RS searches for studies, series and instances."""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

from imaging import dicomjson
from imaging.dicomweb.common import (
    DICOM_JSON,
    Caller,
    instance_url,
    series_url,
    studies_root,
    study_url,
)
from imaging.models import Instance, Series, Study, ViewingKind
from imaging.qido import Level, Query, query_parse
from imaging.selectors import (
    first_instance_attributes,
    qido_search,
    series_of_study,
    study_get_for_user,
)


def _query(request: HttpRequest, level: Level) -> Query:
    pairs = [(key, value) for key, values in request.GET.lists() for value in values]
    return query_parse(level, pairs)


def _qido_response(results: list[dict[str, Any]], query: Query, more: bool) -> HttpResponse:
    if not results:
        response = HttpResponse(status=204)
    else:
        response = HttpResponse(json.dumps(results, ensure_ascii=False), content_type=DICOM_JSON)
    warnings = [
        f'299 yunzhen "The key {name} is not supported for matching and was ignored."'
        for name in query.ignored
    ]
    if more:
        warnings.append('299 yunzhen "There are additional results that can be requested."')
    if warnings:
        response["Warning"] = ", ".join(warnings)
    return response


def search_studies(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = _query(request, Level.STUDY)
    page = qido_search(user=caller.user, session=caller.session, query=query)
    studies = [row for row in page.rows if isinstance(row, Study)]
    first = first_instance_attributes(
        ids=[s.pk for s in studies], by="study", tags=dicomjson.study_extra_tags(query)
    )
    root = studies_root(request)
    results = dicomjson.studies_json(
        studies, query, lambda s: study_url(root, s.study_instance_uid), first
    )
    return _qido_response(results, query, page.more)


def search_series(request: HttpRequest, caller: Caller, study: str | None = None) -> HttpResponse:
    query = _query(request, Level.SERIES)
    scope = (
        study_get_for_user(
            user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.SEARCH
        )
        if study is not None
        else None
    )
    page = qido_search(user=caller.user, session=caller.session, query=query, study=scope)
    rows = [row for row in page.rows if isinstance(row, Series)]
    first = first_instance_attributes(
        ids=[s.pk for s in rows], by="series", tags=dicomjson.series_extra_tags(query)
    )
    root = studies_root(request)
    results = dicomjson.series_json(
        rows,
        query,
        lambda s: series_url(root, s.study.study_instance_uid, s.series_instance_uid),
        first,
    )
    return _qido_response(results, query, page.more)


def search_instances(
    request: HttpRequest, caller: Caller, study: str | None = None, series: str | None = None
) -> HttpResponse:
    query = _query(request, Level.INSTANCE)
    scope = (
        study_get_for_user(
            user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.SEARCH
        )
        if study is not None
        else None
    )
    series_scope = (
        series_of_study(study=scope, series_uid=series)
        if scope is not None and series is not None
        else None
    )
    page = qido_search(
        user=caller.user, session=caller.session, query=query, study=scope, series=series_scope
    )
    rows = [row for row in page.rows if isinstance(row, Instance)]
    root = studies_root(request)
    results = dicomjson.instances_json(
        rows,
        query,
        lambda i: instance_url(
            root,
            i.study.study_instance_uid,
            i.series.series_instance_uid,
            i.sop_instance_uid,
        ),
    )
    return _qido_response(results, query, page.more)
