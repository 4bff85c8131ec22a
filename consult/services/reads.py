"""Reads a view completes, recorded in the audit trail: which consults a listing showed.

A worklist selector returns a queryset that the view pages; the view then records the page it
showed here (selectors record the reads they complete themselves; see server/audit/services.py).
"""

from django.core import signing

from consult.audit import consult_audit
from server.accounts.models import User
from server.audit.models import AuditAction

# A worklist page refetches its list when the live socket (re)connects and when a consult
# changes; the token it carries says which consults this page view has already shown.
_SHOWN_SALT = "consult.list.shown"
_SHOWN_MAX_AGE_S = 12 * 3600


def _shown_ids(*, user: User, shown: str) -> set[int] | None:
    """The consults a token from this user's earlier answer names, or None if it is not one."""
    if not shown:
        return None
    try:
        payload = signing.loads(shown, salt=_SHOWN_SALT, max_age=_SHOWN_MAX_AGE_S)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("u") != user.pk:
        return None
    ids = payload.get("ids")
    return {i for i in ids if isinstance(i, int)} if isinstance(ids, list) else None


def consult_list_record(*, user: User, consult_ids: list[int], shown: str = "") -> str:
    """Record which consults a listing showed, once per page view; returns the page's token.

    `shown` is the token the page's previous answer gave: a refresh records only the consults
    that page view had not shown yet, and nothing when there are none.
    """
    already = _shown_ids(user=user, shown=shown)
    fresh = [i for i in consult_ids if already is None or i not in already]
    if already is None or fresh:
        consult_audit(
            user=user,
            action=AuditAction.READ,
            event="consult.list",
            consult=None,
            detail={"consult_ids": fresh},
        )
    return signing.dumps(
        {"u": user.pk, "ids": sorted((already or set()) | set(consult_ids))}, salt=_SHOWN_SALT
    )
