"""QIDO-RS query parameters (PS3.18 8.3.4) parsed into a typed query; no Django here."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from enum import Enum, StrEnum

from imaging.dicom import parse_da, parse_tm, tag_keyword, tags_of, uid_valid
from server.web.paging import OffsetInvalid, offset_parse

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Level(StrEnum):
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


class Kind(Enum):
    UID = "uid"
    STRING = "string"
    PERSON_NAME = "pn"
    DATE = "date"
    TIME = "time"
    INTEGER = "integer"
    MODALITIES = "modalities"


STUDY_KEYS: dict[str, Kind] = {
    "StudyInstanceUID": Kind.UID,
    "PatientID": Kind.STRING,
    "IssuerOfPatientID": Kind.STRING,
    "PatientName": Kind.PERSON_NAME,
    "PatientBirthDate": Kind.STRING,
    "PatientSex": Kind.STRING,
    "StudyDate": Kind.DATE,
    "StudyTime": Kind.TIME,
    "AccessionNumber": Kind.STRING,
    "StudyID": Kind.STRING,
    "StudyDescription": Kind.STRING,
    "ReferringPhysicianName": Kind.PERSON_NAME,
    "ModalitiesInStudy": Kind.MODALITIES,
}
SERIES_KEYS: dict[str, Kind] = {
    "SeriesInstanceUID": Kind.UID,
    "Modality": Kind.STRING,
    "SeriesNumber": Kind.INTEGER,
    "SeriesDescription": Kind.STRING,
    "BodyPartExamined": Kind.STRING,
}
INSTANCE_KEYS: dict[str, Kind] = {
    "SOPInstanceUID": Kind.UID,
    "SOPClassUID": Kind.UID,
    "InstanceNumber": Kind.INTEGER,
    "NumberOfFrames": Kind.INTEGER,
}
KEYS_BY_LEVEL: dict[Level, dict[str, Kind]] = {
    Level.STUDY: STUDY_KEYS,
    Level.SERIES: {**STUDY_KEYS, **SERIES_KEYS},
    Level.INSTANCE: {**STUDY_KEYS, **SERIES_KEYS, **INSTANCE_KEYS},
}
_RESERVED = {"limit", "offset", "fuzzymatching", "includefield"}
# IS values are 32-bit signed (PS3.5 6.2); anything wider cannot match and overflows SQL.
_IS_RANGE = range(-(2**31), 2**31)


class QueryInvalid(ValueError):
    """A query parameter has a value the standard does not allow (HTTP 400)."""


@dataclass(frozen=True)
class Range:
    """An inclusive range; either end may be open."""

    start: date | time | None
    end: date | time | None


@dataclass(frozen=True)
class Match:
    keyword: str
    kind: Kind
    value: str  # as sent (percent-decoded): a pattern for strings and names
    uids: tuple[str, ...] = ()
    numbers: tuple[int, ...] = ()
    range: Range | None = None


@dataclass(frozen=True)
class Query:
    level: Level
    matches: tuple[Match, ...]
    include_all: bool
    include_tags: frozenset[str]
    fuzzy: bool
    limit: int
    offset: int
    ignored: tuple[str, ...]  # keys the archive cannot match on; reported in a Warning header


def has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _range(value: str, parse: type[date] | type[time]) -> Range:
    parser = parse_da if parse is date else parse_tm
    if "-" not in value:
        single = parser(value)
        if single is None:
            raise QueryInvalid(f"Invalid {parse.__name__} {value!r}.")
        return Range(single, single)
    left, _, right = value.partition("-")
    start = parser(left) if left else None
    end = parser(right) if right else None
    if (left and start is None) or (right and end is None) or (not left and not right):
        raise QueryInvalid(f"Invalid {parse.__name__} range {value!r}.")
    return Range(start, end)


def _match(keyword: str, kind: Kind, value: str) -> Match:
    if kind is Kind.UID:
        uids = tuple(uid.strip() for uid in re.split(r"[,\\]", value) if uid.strip())
        if not all(uid_valid(uid) for uid in uids):
            raise QueryInvalid(f"Invalid UID list for {keyword}.")
        return Match(keyword, kind, value, uids=uids)
    if kind is Kind.INTEGER:
        try:
            numbers = tuple(int(number) for number in re.split(r"[,\\]", value))
        except ValueError as exc:
            raise QueryInvalid(f"{keyword} takes integers.") from exc
        if not all(number in _IS_RANGE for number in numbers):
            raise QueryInvalid(f"{keyword} takes integers of at most 32 bits.")
        return Match(keyword, kind, value, numbers=numbers)
    if kind is Kind.DATE:
        return Match(keyword, kind, value, range=_range(value, date))
    if kind is Kind.TIME:
        return Match(keyword, kind, value, range=_range(value, time))
    return Match(keyword, kind, value)


def _keyword(name: str) -> str:
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        return tag_keyword(name)
    return name


def _integer(name: str, raw: str | None, default: int, maximum: int | None = None) -> int:
    if raw is None or raw == "":
        return default
    try:
        number = int(raw)
    except ValueError as exc:
        raise QueryInvalid(f"{name} must be a non-negative integer.") from exc
    if number < 0:
        raise QueryInvalid(f"{name} must be a non-negative integer.")
    return min(number, maximum) if maximum is not None else number


def _offset(raw: str | None) -> int:
    try:
        return offset_parse(raw)
    except OffsetInvalid as exc:
        raise QueryInvalid(str(exc)) from exc


def query_parse(level: Level, params: Iterable[tuple[str, str]]) -> Query:
    """Parse the query string pairs (already percent-decoded) of a QIDO-RS request.

    Raises: QueryInvalid for malformed values.
    """
    keys = KEYS_BY_LEVEL[level]
    matches: list[Match] = []
    include: set[str] = set()
    include_all = False
    ignored: list[str] = []
    single: dict[str, str] = {}
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            # Matched in SQL, which cannot hold it: refused for every door (QIDO-RS, C-FIND).
            raise QueryInvalid("A query key or value contains a NUL byte.")
        lowered = name.lower()
        if lowered == "includefield":
            names = [item.strip() for item in value.split(",") if item.strip()]
            include_all = include_all or "all" in names
            include |= tags_of(n for n in names if n != "all")
            continue
        if lowered in _RESERVED:
            single[lowered] = value
            continue
        keyword = _keyword(name)
        if keyword not in keys:
            ignored.append(name)
            continue
        include |= tags_of([keyword])
        if value == "":
            continue  # universal matching: return the attribute, filter nothing
        matches.append(_match(keyword, keys[keyword], value))
    fuzzy = single.get("fuzzymatching", "false").lower()
    if fuzzy not in ("true", "false"):
        raise QueryInvalid("fuzzymatching must be true or false.")
    return Query(
        level=level,
        matches=tuple(matches),
        include_all=include_all,
        include_tags=frozenset(include),
        fuzzy=fuzzy == "true",
        limit=max(1, _integer("limit", single.get("limit"), DEFAULT_LIMIT, MAX_LIMIT)),
        offset=_offset(single.get("offset")),
        ignored=tuple(ignored),
    )


def wildcard_regex(pattern: str, *, any_char: str = ".") -> str:
    """An anchored regular expression for a DICOM wildcard pattern (* any run, ? one char)."""
    pieces = []
    for char in pattern:
        if char == "*":
            pieces.append(f"{any_char}*")
        elif char == "?":
            pieces.append(any_char)
        else:
            pieces.append(re.escape(char))
    return "".join(pieces)


def person_name_regex(pattern: str, *, fuzzy: bool) -> str:
    """A regular expression matching a stored PN value ("Alpha=Ideographic=Phonetic").

    Without `=` in the query, any one component group may match. Fuzzy matching (PS3.18
    8.3.4.6: implementation defined) matches each query word at the start of any name part,
    in any order, ignoring case; `*` and `?` still work inside a word.
    """
    if fuzzy:
        words = [w for w in re.split(r"[\^\s=,]+", pattern) if w]
        return "".join(
            rf"(?=.*(^|[\^=\s]){wildcard_regex(word, any_char='[^^=]')})" for word in words
        )
    if "=" in pattern:
        body = wildcard_regex(pattern)
        return rf"^{body}=*$"
    group = wildcard_regex(pattern, any_char="[^=]")
    # Trailing empty components ("Wang^" stored as "Wang") must not defeat exact matching.
    return rf"(^|=){group}\^*(=|$)"
