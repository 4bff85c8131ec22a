"""Headers every answer carries: the Content-Security-Policy, and no caching unless it says so.

First in MIDDLEWARE, so the static files WhiteNoise sends carry the policy too: a Web Worker
runs under the policy of its own script's answer, not the page's.
"""

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin


def csp_header(policy: Mapping[str, Sequence[str]]) -> str:
    """{"default-src": ["'self'"], ...} as a header value: "default-src 'self'; ..."."""
    return "; ".join(" ".join([name, *sources]) for name, sources in policy.items())


class ResponseHeadersMiddleware(MiddlewareMixin):
    """Sets CONTENT_SECURITY_POLICY on every answer, and `Cache-Control: no-store` on those
    that say nothing about caching (pages, the JSON API, files with patient data).

    An answer that chose its own caching keeps it: the hashed static assets their year,
    revalidated DICOM metadata its `no-cache`.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        # Django's debug pages (DEBUG only) style and script themselves inline.
        debug_page = settings.DEBUG and response.status_code in {404, 500}
        if not debug_page:
            response.headers.setdefault(
                "Content-Security-Policy", csp_header(settings.CONTENT_SECURITY_POLICY)
            )
        response.headers.setdefault("Cache-Control", "no-store")
        return response
