"""Attribute helpers: keywords and tags, DA and TM values, DICOM JSON text values."""

import re
from collections.abc import Iterable
from datetime import date, time
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from imaging.dicom_metadata import tag_hex

# PS3.5 9.1: components of digits, none with a leading zero unless it is "0", joined by dots.
_UID_GRAMMAR = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
UID_MAX_CHARS = 64


def uid_valid(uid: str) -> bool:
    """Whether `uid` is a UID as PS3.5 9.1 defines it (also safe in a URL path and a file name)."""
    return len(uid) <= UID_MAX_CHARS and _UID_GRAMMAR.fullmatch(uid) is not None


def parse_da(value: str) -> date | None:
    """A DICOM DA value (YYYYMMDD, or the old YYYY.MM.DD) as a date, None if empty or invalid."""
    text = value.strip().replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_tm(value: str) -> time | None:
    """A DICOM TM value (HH, HHMM, HHMMSS, HHMMSS.FFFFFF; old HH:MM:SS) as a time, or None."""
    text = value.strip().replace(":", "")
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6) or (fraction and not fraction.isdigit()):
        return None
    try:
        return time(
            int(whole[:2]),
            int(whole[2:4] or 0),
            int(whole[4:6] or 0),
            int((fraction + "000000")[:6]) if fraction else 0,
        )
    except ValueError:
        return None


_keyword_vr = cache(dictionary_VR)


def json_string(keyword: str, value: str) -> dict[str, Any]:
    """One DICOM JSON attribute for a text value; PN is split into its component groups."""
    vr = _keyword_vr(keyword)
    if not value:
        return {"vr": vr}
    if vr == "PN":
        groups = value.split("=")
        names = dict(zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False))
        return {"vr": vr, "Value": [{k: v for k, v in names.items() if v}]}
    if vr in ("IS", "US", "UL", "SL", "SS"):
        return {"vr": vr, "Value": [int(value)]}
    return {"vr": vr, "Value": value.split("\\")}


@cache
def keyword_tag(keyword: str) -> str:
    """The 8-hex-digit tag of a keyword (raises KeyError if unknown)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag_hex(tag)


def tag_keyword(tag: str) -> str:
    """The keyword of an 8-hex-digit tag, or "" for private and unknown tags."""
    try:
        return keyword_for_tag(int(tag, 16)) or ""
    except ValueError:
        return ""


def tags_of(names: Iterable[str]) -> set[str]:
    """Map keywords or 8-hex-digit tags to tags; unknown names are dropped."""
    tags: set[str] = set()
    for name in names:
        candidate = name.strip()
        if len(candidate) == 8 and all(c in "0123456789abcdefABCDEF" for c in candidate):
            tags.add(candidate.upper())
            continue
        try:
            tags.add(keyword_tag(candidate))
        except KeyError:
            continue
    return tags
