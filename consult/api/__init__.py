"""Consult JSON endpoints, one module per subdomain, re-exported here for api_urls.py."""

from consult.api.attachments import AttachmentApi, StudiesApi
from consult.api.base import PdfRenderer
from consult.api.duty import DutyApi
from consult.api.opinions import (
    OpinionApi,
    OpinionContributionApi,
    OpinionDraftApi,
    OpinionPdfApi,
    OpinionSignApi,
)
from consult.api.requests import ConsultDetailApi, ConsultListApi, FhirApi
from consult.api.review import AnnotationApi, AnnotationsApi, KeyImageApi, KeyImagesApi
from consult.api.transitions import AcknowledgeApi, ConsultTransitionApi

__all__ = [
    "AcknowledgeApi",
    "AnnotationApi",
    "AnnotationsApi",
    "AttachmentApi",
    "ConsultDetailApi",
    "ConsultListApi",
    "ConsultTransitionApi",
    "DutyApi",
    "FhirApi",
    "KeyImageApi",
    "KeyImagesApi",
    "OpinionApi",
    "OpinionContributionApi",
    "OpinionDraftApi",
    "OpinionPdfApi",
    "OpinionSignApi",
    "PdfRenderer",
    "StudiesApi",
]
