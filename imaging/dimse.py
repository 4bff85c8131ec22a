"""The DICOM SCP: C-ECHO, C-STORE, C-FIND and C-GET for registered calling AE titles."""

import io
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from weakref import WeakKeyDictionary

from django.core.files.storage import default_storage
from django.db import connections
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.association import Association
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # generated at import time
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)
from pynetdicom.transport import AssociationServer

from imaging.dicom import TranscodeUnsupported, transcode_explicit_le
from imaging.models import CallingAETitle, IngestSource, Instance, Series, Study, ViewingKind
from imaging.qido import Level, QueryInvalid, query_parse
from imaging.selectors import calling_ae_get, dimse_search, instances_for_retrieve
from imaging.services import instance_ingest, study_reads_record_for_ae
from server.access import Actor, institution_actor
from server.audit.context import client_address
from server.audit.models import AuditOutcome

logger = logging.getLogger(__name__)

# pynetdicom's acceptor takes, for each proposed context, the first of these transfer syntaxes
# that the SCU offers: compressed ones come first (lossless before lossy) so the archive keeps
# the smaller file and nothing is transcoded; uncompressed ones are the fallback.
_COMPRESSED_FIRST = [
    JPEGLSLossless,
    JPEG2000Lossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEGLosslessSV1,
    JPEGLossless,
    RLELossless,
    JPEG2000,
    HTJ2K,
    JPEGLSNearLossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
]
_UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
ACCEPTED_TRANSFER_SYNTAXES: list[UID] = [
    *_COMPRESSED_FIRST,
    *(
        ts
        for ts in AllTransferSyntaxes
        if ts not in _COMPRESSED_FIRST
        and ts not in _UNCOMPRESSED
        and ts != DeflatedExplicitVRLittleEndian
    ),
    DeflatedExplicitVRLittleEndian,
    *_UNCOMPRESSED,
]

# PS3.4 C-FIND / C-GET statuses beyond the storage failure reasons the ingest service gives.
SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000
# A-ASSOCIATE-RJ: rejected permanent, by the service user, calling AE title not recognised.
_REJECT_UNKNOWN_CALLING_AE = (0x01, 0x01, 0x03)


@dataclass
class _Peer:
    """A registered calling AE title in one association, and what it has been audited for."""

    calling_ae: CallingAETitle
    actor: Actor
    audited: set[tuple[int, ViewingKind]] = field(default_factory=set)


_peers: WeakKeyDictionary[Association, _Peer] = WeakKeyDictionary()
_peers_lock = threading.Lock()


def _peer(event: Event) -> _Peer | None:
    with _peers_lock:
        return _peers.get(event.assoc)


def _record(peer: _Peer, studies: list[Study], kind: ViewingKind) -> None:
    """Audit each study once per association and kind of access."""
    fresh = {s.pk: s for s in studies if (s.pk, kind) not in peer.audited}
    peer.audited |= {(pk, kind) for pk in fresh}
    study_reads_record_for_ae(calling_ae=peer.calling_ae, studies=list(fresh.values()), kind=kind)


# --- Association ----------------------------------------------------------------------------


def handle_requested(event: Event) -> None:
    """Accept only registered, active calling AE titles; reject others before negotiation."""
    request = event.assoc.requestor
    client_address.set(request.address)
    calling = str(request.primitive.calling_ae_title if request.primitive else "").strip()
    registration = calling_ae_get(ae_title=calling)
    if registration is None:
        logger.warning(
            "Association from %s rejected: calling AE title %r is not registered or inactive",
            request.address,
            calling,
        )
        event.assoc.acse.send_reject(*_REJECT_UNKNOWN_CALLING_AE)
        event.assoc.kill()
        connections.close_all()
        return
    with _peers_lock:
        _peers[event.assoc] = _Peer(
            calling_ae=registration, actor=institution_actor(registration.institution)
        )


def handle_closed(event: Event) -> None:
    """The association ends in its own thread: give that thread's database connection back."""
    with _peers_lock:
        _peers.pop(event.assoc, None)
    connections.close_all()


def handle_echo(event: Event) -> int:
    return SUCCESS


# --- C-STORE --------------------------------------------------------------------------------


def handle_store(event: Event) -> int | Dataset:
    """Store through the one ingest service; a refusal carries its PS3.4 status and reason."""
    peer = _peer(event)
    if peer is None:
        return UNABLE_TO_PROCESS
    result = instance_ingest(
        data=event.encoded_dataset(),
        source=IngestSource.DIMSE,
        institution_id=peer.calling_ae.institution_id,
        user=None,
    )
    if result.ok:
        return SUCCESS
    reason = int(result.failure_reason or UNABLE_TO_PROCESS)
    logger.info("C-STORE from calling AE %s refused: 0x%04X", peer.calling_ae.pk, reason)
    status = Dataset()
    status.Status = reason
    status.ErrorComment = result.message[:64]  # LO: 64 characters at most
    return status


# --- C-FIND ---------------------------------------------------------------------------------

_LEVELS = {"STUDY": Level.STUDY, "SERIES": Level.SERIES}
_NOT_MATCHING_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet"}


def _text(value: Any) -> str:
    """An identifier value as DICOM writes it: multiple values joined by a backslash."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list):
        return "\\".join(str(item) for item in value)
    return str(value)


def _query_pairs(identifier: Dataset) -> list[tuple[str, str]]:
    return [
        (element.keyword, _text(element.value))
        for element in identifier
        if element.keyword and element.keyword not in _NOT_MATCHING_KEYS and element.VR != "SQ"
    ]


def _da(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _tm(value: time | None) -> str:
    return value.strftime("%H%M%S") if value else ""


def _study_values(study: Study) -> dict[str, object]:
    return {
        "StudyInstanceUID": study.study_instance_uid,
        "PatientID": study.dicom_patient_id,
        "IssuerOfPatientID": study.issuer_of_patient_id,
        "PatientName": study.patient_name,
        "PatientBirthDate": study.patient_birth_date,
        "PatientSex": study.patient_sex,
        "StudyDate": _da(study.study_date),
        "StudyTime": _tm(study.study_time),
        "AccessionNumber": study.accession_number,
        "StudyID": study.study_id,
        "StudyDescription": study.study_description,
        "ReferringPhysicianName": study.referring_physician_name,
        "ModalitiesInStudy": [m for m in study.modalities_in_study.split("\\") if m],
        "NumberOfStudyRelatedSeries": study.series_count,
        "NumberOfStudyRelatedInstances": study.instance_count,
        "InstanceAvailability": "ONLINE",
    }


def _series_values(series: Series) -> dict[str, object]:
    return {
        **_study_values(series.study),
        "SeriesInstanceUID": series.series_instance_uid,
        "Modality": series.modality,
        "SeriesNumber": series.series_number,
        "SeriesDescription": series.series_description,
        "BodyPartExamined": series.body_part_examined,
        "NumberOfSeriesRelatedInstances": series.instance_count,
    }


def _find_response(
    row: Study | Series, identifier: Dataset, level: str, retrieve_ae_title: str
) -> Dataset:
    """The identifier's keys filled in from the row; keys the archive does not hold stay empty."""
    values = _study_values(row) if isinstance(row, Study) else _series_values(row)
    response = Dataset()
    response.SpecificCharacterSet = "ISO_IR 192"
    for element in identifier:
        if not element.keyword or element.keyword in _NOT_MATCHING_KEYS:
            continue
        value = values.get(element.keyword)
        if element.VR == "SQ":
            response.add_new(element.tag, "SQ", [])
        else:
            response.add_new(element.tag, element.VR, value if value not in (None, "") else None)
    response.QueryRetrieveLevel = level
    response.RetrieveAETitle = retrieve_ae_title
    response.StudyInstanceUID = values["StudyInstanceUID"]
    if isinstance(row, Series):
        response.SeriesInstanceUID = values["SeriesInstanceUID"]
    return response


def handle_find(event: Event) -> Iterator[tuple[int, Dataset | None]]:
    """Study Root C-FIND at study and series level, matched like QIDO-RS, scoped to the AE."""
    peer = _peer(event)
    if peer is None:
        yield UNABLE_TO_PROCESS, None
        return
    identifier = event.identifier
    level = str(identifier.get("QueryRetrieveLevel", ""))
    if level not in _LEVELS:
        yield IDENTIFIER_DOES_NOT_MATCH, None
        return
    try:
        query = query_parse(_LEVELS[level], _query_pairs(identifier))
    except QueryInvalid as exc:
        logger.info("C-FIND from calling AE %s refused: %s", peer.calling_ae.pk, exc)
        yield UNABLE_TO_PROCESS, None
        return
    rows = dimse_search(actor=peer.actor, query=query)
    _record(
        peer, [row if isinstance(row, Study) else row.study for row in rows], ViewingKind.SEARCH
    )
    own_ae_title = event.assoc.acceptor.ae_title
    for row in rows:
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield PENDING, _find_response(row, identifier, level, own_ae_title)


# --- C-GET ----------------------------------------------------------------------------------


def _uids(identifier: Dataset, keyword: str) -> list[str]:
    return [uid for uid in _text(identifier.get(keyword)).split("\\") if uid]


def _stored_dataset(instance: Instance, accepted: set[tuple[str, str]]) -> Dataset:
    """The stored instance, decompressed if the SCU took no context for its compression."""
    with default_storage.open(instance.storage_name, "rb") as handle:
        data: bytes = handle.read()
    syntax = UID(instance.transfer_syntax_uid)
    if syntax.is_compressed and (instance.sop_class_uid, syntax) not in accepted:
        try:
            data = transcode_explicit_le(data)
        except TranscodeUnsupported:
            # Sent as stored, the sub-operation fails and is counted as failed.
            logger.warning("Instance %s cannot be decompressed for C-GET", instance.pk)
    return dcmread(io.BytesIO(data))


def handle_get(event: Event) -> Iterator[int | tuple[int, Dataset | None]]:
    """Study Root C-GET of a study, series or instances, sent back on the same association."""
    peer = _peer(event)
    identifier = event.identifier
    level = str(identifier.get("QueryRetrieveLevel", ""))
    study_uids = _uids(identifier, "StudyInstanceUID")
    if peer is None or level not in ("STUDY", "SERIES", "IMAGE") or not study_uids:
        yield 0
        yield IDENTIFIER_DOES_NOT_MATCH, None
        return
    retrieval = instances_for_retrieve(
        actor=peer.actor,
        study_uids=study_uids,
        series_uids=_uids(identifier, "SeriesInstanceUID") if level != "STUDY" else None,
        sop_uids=_uids(identifier, "SOPInstanceUID") if level == "IMAGE" else None,
    )
    study_reads_record_for_ae(
        calling_ae=peer.calling_ae,
        studies=retrieval.denied,
        kind=ViewingKind.RETRIEVE,
        outcome=AuditOutcome.DENIED,
    )
    _record(peer, [i.study for i in retrieval.instances], ViewingKind.RETRIEVE)
    accepted = {
        (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
        for cx in event.assoc.accepted_contexts
    }
    yield len(retrieval.instances)
    for instance in retrieval.instances:
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield PENDING, _stored_dataset(instance, accepted)


# --- Server ---------------------------------------------------------------------------------


class _NoDelayServer(AssociationServer):
    """Sends each PDU as soon as it is written: no Nagle delay on small DIMSE responses."""

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client, address = super().get_request()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client, address


HANDLERS: list[EventHandlerType] = [
    (evt.EVT_REQUESTED, handle_requested),
    (evt.EVT_RELEASED, handle_closed),
    (evt.EVT_ABORTED, handle_closed),
    (evt.EVT_C_ECHO, handle_echo),
    (evt.EVT_C_STORE, handle_store),
    (evt.EVT_C_FIND, handle_find),
    (evt.EVT_C_GET, handle_get),
]


def scp_application_entity(ae_title: str) -> AE:
    """The SCP's application entity with every presentation context it accepts."""
    ae = AE(ae_title=ae_title)
    # 0: the SCU may send PDUs of any size, fewer and larger for big images.
    ae.maximum_pdu_size = 0
    ae.add_supported_context(Verification)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    for context in AllStoragePresentationContexts:
        # Both roles: storage SCP for C-STORE, storage SCU for the sub-operations of C-GET.
        ae.add_supported_context(
            str(context.abstract_syntax),
            ACCEPTED_TRANSFER_SYNTAXES,
            scu_role=True,
            scp_role=True,
        )
    return ae


def scp_serve(*, bind: str, port: int, ae_title: str) -> None:
    """Serve associations until the process is stopped."""
    # pynetdicom's own event log prints identifiers, which carry patient names and IDs.
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    ae = scp_application_entity(ae_title)
    server = ae.make_server((bind, port), evt_handlers=HANDLERS, server_class=_NoDelayServer)
    logger.info("DICOM SCP %s listening on %s:%d", ae_title, bind, port)
    try:
        server.serve_forever()
    finally:
        server.shutdown()
