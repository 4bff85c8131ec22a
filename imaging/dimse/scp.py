"""The DICOM SCP: C-ECHO, C-STORE, C-FIND and C-GET for registered calling AE titles."""

import io
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections
from pydicom import dcmread
from pydicom.dataset import Dataset
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
from pynetdicom import AllStoragePresentationContexts
from pynetdicom.dsutils import decode, encode
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # generated at import time
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

from imaging.budget import HOLD_WAIT_SECONDS, BudgetSpent, process_budget
from imaging.dicom import TranscodeUnsupported, transcode_explicit_le
from imaging.dimse.identifiers import LEVELS, find_response, query_pairs, uids
from imaging.dimse.messages import (
    C_CANCEL_RQ,
    C_ECHO_RQ,
    C_ECHO_RSP,
    C_FIND_RQ,
    C_FIND_RSP,
    C_GET_RQ,
    C_GET_RSP,
    C_STORE_RQ,
    C_STORE_RSP,
    RESPONSE_BIT,
    Command,
    file_meta_encode,
)
from imaging.dimse.upper_layer import (
    CALLING_AE_NOT_RECOGNISED,
    UNEXPECTED_PDU,
    AcceptedContext,
    AcceptorConfig,
    Association,
    AssociationRequest,
    Message,
    ProtocolError,
    Rejection,
    serve_forever,
)
from imaging.models import CallingAETitle, IngestSource, Instance, Study, ViewingKind
from imaging.qido import QueryInvalid, query_parse
from imaging.selectors import calling_ae_get, dimse_search, instances_for_retrieve
from imaging.services import instance_ingest, study_reads_record_for_ae
from server.access import institution_actor
from server.audit.context import client_address
from server.audit.models import AuditOutcome

logger = logging.getLogger(__name__)

# For each proposed storage context the acceptor takes the first of these transfer syntaxes
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

# PS3.4 / PS3.7 statuses beyond the storage failure reasons the ingest service gives.
SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
WARNING = 0xB000
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000
UNABLE_TO_PERFORM_SUBOPERATIONS = 0xA702
TOO_MANY_MATCHES = 0xA701  # out of resources: the count does not fit the response
UNRECOGNISED_OPERATION = 0x0211
_WARNING_STATUSES = {0x0001, 0x0107, 0x0116}  # besides 0xBxxx (PS3.7 C.4)


def presentation_contexts() -> list[PresentationContext]:
    """Every presentation context the SCP accepts, with the roles it agrees to."""
    contexts = [
        build_context(Verification),
        build_context(StudyRootQueryRetrieveInformationModelFind),
        build_context(StudyRootQueryRetrieveInformationModelGet),
    ]
    for storage in AllStoragePresentationContexts:
        context = build_context(str(storage.abstract_syntax), [*ACCEPTED_TRANSFER_SYNTAXES])
        # Both roles: storage SCP for C-STORE, storage SCU for the sub-operations of C-GET.
        context.scu_role = True
        context.scp_role = True
        contexts.append(context)
    return contexts


def _response(request: Command, command_field: int, status: int) -> Command:
    return {
        "AffectedSOPClassUID": request.get("AffectedSOPClassUID", ""),
        "CommandField": command_field,
        "MessageIDBeingRespondedTo": request.get("MessageID", 0),
        "Status": status,
    }


def _encoded(identifier: Dataset, context: AcceptedContext) -> bytes:
    syntax = context.transfer_syntax
    data = encode(identifier, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)
    if data is None:
        raise ValueError("identifier cannot be encoded")
    return data


def _decoded(message: Message) -> Dataset:
    syntax = message.context.transfer_syntax
    stream = io.BytesIO(message.dataset or b"")
    return decode(stream, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)


def _failed_list(failed: list[str]) -> Dataset:
    identifier = Dataset()
    identifier.FailedSOPInstanceUIDList = failed
    return identifier


def _stored_dataset(instance: Instance, sendable: set[tuple[str, str]]) -> Dataset:
    """The stored instance, decompressed if the SCU took no context for its compression."""
    with default_storage.open(instance.storage_name, "rb") as handle:
        data: bytes = handle.read()
    syntax = UID(instance.transfer_syntax_uid)
    if syntax.is_compressed and (instance.sop_class_uid, syntax) not in sendable:
        limit = settings.IMAGING_DECODE_MAX_BYTES
        budget = process_budget(settings.IMAGING_DECODE_BUDGET_BYTES)
        try:
            # Associations run in threads: each transcode holds the most one may take.
            with budget.hold(limit, wait=HOLD_WAIT_SECONDS):
                data = transcode_explicit_le(data, max_bytes=limit)
        except (TranscodeUnsupported, BudgetSpent) as exc:
            # Sent as stored, the sub-operation fails and is counted as failed.
            logger.warning(
                "Instance %s cannot be decompressed for C-GET: %s", instance.pk, repr(exc)
            )
    return dcmread(io.BytesIO(data))


def _store_context(association: Association, sop_class: str, syntax: UID) -> AcceptedContext | None:
    """The context to send an instance on: its own transfer syntax, else one it converts to."""
    candidates = [
        c for c in association.contexts.values() if c.scu_role and c.abstract_syntax == sop_class
    ]
    for context in candidates:
        if context.transfer_syntax == syntax:
            return context
    for context in candidates:
        other = context.transfer_syntax
        if not (syntax.is_compressed or other.is_compressed) and (
            syntax.is_little_endian == other.is_little_endian
        ):
            return context
    return None


@dataclass
class _Session:
    """A registered calling AE title in one association, and what it has been audited for."""

    calling_ae: CallingAETitle
    own_ae_title: str
    audited: set[tuple[int, ViewingKind]] = field(default_factory=set)

    def handle(self, association: Association, message: Message) -> None:
        command_field = message.command["CommandField"]
        abstract_syntax = message.context.abstract_syntax
        if command_field == C_STORE_RQ and abstract_syntax not in _NOT_STORAGE:
            self._store(association, message)
        elif command_field == C_FIND_RQ and abstract_syntax == _FIND:
            self._find(association, message)
        elif command_field == C_GET_RQ and abstract_syntax == _GET:
            self._get(association, message)
        elif command_field == C_ECHO_RQ and abstract_syntax == Verification:
            response = _response(message.command, C_ECHO_RSP, SUCCESS)
            association.send(message.context.context_id, response)
        elif command_field == C_CANCEL_RQ:
            pass  # Its operation has already finished.
        elif command_field & RESPONSE_BIT:
            raise ProtocolError(UNEXPECTED_PDU, f"response {command_field:#06x} to no request")
        else:
            logger.info("Unsupported command %#06x on %s", command_field, abstract_syntax)
            response = _response(
                message.command, command_field | RESPONSE_BIT, UNRECOGNISED_OPERATION
            )
            association.send(message.context.context_id, response)

    def _record(self, studies: list[Study], kind: ViewingKind) -> None:
        """Audit each study once per association and kind of access."""
        fresh = {s.pk: s for s in studies if (s.pk, kind) not in self.audited}
        self.audited |= {(pk, kind) for pk in fresh}
        study_reads_record_for_ae(
            calling_ae=self.calling_ae, studies=list(fresh.values()), kind=kind
        )

    # --- C-STORE ----------------------------------------------------------------------------

    def _store(self, association: Association, message: Message) -> None:
        """Store through the one ingest service; a refusal carries its PS3.4 status and reason."""
        request = message.command
        data = file_meta_encode(
            sop_class_uid=request.get("AffectedSOPClassUID", ""),
            sop_instance_uid=request.get("AffectedSOPInstanceUID", ""),
            transfer_syntax=message.context.transfer_syntax,
        ) + (message.dataset or b"")
        result = instance_ingest(
            data=data,
            source=IngestSource.DIMSE,
            institution=self.calling_ae.institution,
            user=None,
        )
        response = _response(request, C_STORE_RSP, SUCCESS)
        response["AffectedSOPInstanceUID"] = request.get("AffectedSOPInstanceUID", "")
        if not result.ok:
            response["Status"] = int(result.failure_reason or UNABLE_TO_PROCESS)
            response["ErrorComment"] = result.message[:64]  # LO: 64 characters at most
            logger.info(
                "C-STORE from calling AE %s refused: 0x%04X",
                self.calling_ae.pk,
                response["Status"],
            )
        association.send(message.context.context_id, response)

    # --- C-FIND -----------------------------------------------------------------------------

    def _find(self, association: Association, message: Message) -> None:
        """Study Root C-FIND at study and series level, matched like QIDO-RS, scoped to the AE.

        A C-CANCEL-RQ is honoured between pending responses.
        """
        context_id = message.context.context_id
        identifier = _decoded(message)
        level = str(identifier.get("QueryRetrieveLevel", ""))
        if level not in LEVELS:
            response = _response(message.command, C_FIND_RSP, IDENTIFIER_DOES_NOT_MATCH)
            association.send(context_id, response)
            return
        try:
            query = query_parse(LEVELS[level], query_pairs(identifier))
        except QueryInvalid as exc:
            logger.info("C-FIND from calling AE %s refused: %s", self.calling_ae.pk, exc)
            association.send(context_id, _response(message.command, C_FIND_RSP, UNABLE_TO_PROCESS))
            return
        rows = dimse_search(actor=institution_actor(self.calling_ae.institution), query=query)
        self._record([r if isinstance(r, Study) else r.study for r in rows], ViewingKind.SEARCH)
        for row in rows:
            if association.cancel_requested(message.command["MessageID"]):
                association.send(context_id, _response(message.command, C_FIND_RSP, CANCEL))
                return
            matched = find_response(row, identifier, level, self.own_ae_title)
            pending = _response(message.command, C_FIND_RSP, PENDING)
            association.send(context_id, pending, _encoded(matched, message.context))
        association.send(context_id, _response(message.command, C_FIND_RSP, SUCCESS))

    # --- C-GET ------------------------------------------------------------------------------

    def _get(self, association: Association, message: Message) -> None:
        """Study Root C-GET of a study, series or instances, sent back on the same association.

        Each instance goes as a C-STORE sub-operation over a context whose SCP role the SCU
        took; a pending C-GET-RSP with the counts follows each one.
        """
        identifier = _decoded(message)
        level = str(identifier.get("QueryRetrieveLevel", ""))
        study_uids = uids(identifier, "StudyInstanceUID")
        instances: list[Instance] = []
        # An identifier without a level or study matches nothing: success, zero sub-operations.
        if level in ("STUDY", "SERIES", "IMAGE") and study_uids:
            retrieval = instances_for_retrieve(
                actor=institution_actor(self.calling_ae.institution),
                study_uids=study_uids,
                series_uids=uids(identifier, "SeriesInstanceUID") if level != "STUDY" else None,
                sop_uids=uids(identifier, "SOPInstanceUID") if level == "IMAGE" else None,
            )
            study_reads_record_for_ae(
                calling_ae=self.calling_ae,
                studies=retrieval.denied,
                kind=ViewingKind.RETRIEVE,
                outcome=AuditOutcome.DENIED,
            )
            self._record([i.study for i in retrieval.instances], ViewingKind.RETRIEVE)
            instances = retrieval.instances
        _Retrieval(association, message, instances).run()


_FIND = UID(StudyRootQueryRetrieveInformationModelFind)
_GET = UID(StudyRootQueryRetrieveInformationModelGet)
_NOT_STORAGE = {UID(Verification), _FIND, _GET}


class _Retrieval:
    """The sub-operations of one C-GET and their counts."""

    def __init__(
        self, association: Association, request: Message, instances: list[Instance]
    ) -> None:
        self.association = association
        self.request = request
        self.instances = instances
        self.remaining = len(instances)
        self.completed = self.failed = self.warning = 0
        self.failed_uids: list[str] = []

    def run(self) -> None:
        message_id = self.request.command["MessageID"]
        if self.remaining > 0xFFFF:
            self._respond(TOO_MANY_MATCHES)
            return
        sendable = {
            (str(c.abstract_syntax), str(c.transfer_syntax))
            for c in self.association.contexts.values()
            if c.scu_role
        }
        for number, instance in enumerate(self.instances, start=1):
            if self.association.cancel_requested(message_id):
                self._respond(CANCEL, _failed_list(self.failed_uids), remaining=True)
                return
            status, cancelled = self._send(
                instance, sendable, (message_id + number - 1) % 0xFFFF + 1
            )
            self.remaining -= 1
            if status == SUCCESS:
                self.completed += 1
            elif status in _WARNING_STATUSES or status & 0xF000 == 0xB000:
                self.warning += 1
            else:
                self.failed += 1
                self.failed_uids.append(instance.sop_instance_uid)
            if cancelled:
                self._respond(CANCEL, _failed_list(self.failed_uids), remaining=True)
                return
            self._respond(PENDING, remaining=True)
        if not self.failed and not self.warning:
            self._respond(SUCCESS)
        else:
            all_failed = self.failed == len(self.instances)
            status = UNABLE_TO_PERFORM_SUBOPERATIONS if all_failed else WARNING
            self._respond(status, _failed_list(self.failed_uids))

    def _send(
        self, instance: Instance, sendable: set[tuple[str, str]], message_id: int
    ) -> tuple[int, bool]:
        """One C-STORE sub-operation: its status, and whether a C-CANCEL came meanwhile."""
        dataset = _stored_dataset(instance, sendable)
        syntax = UID(dataset.file_meta.TransferSyntaxUID)
        context = _store_context(self.association, instance.sop_class_uid, syntax)
        data = None
        if context is not None:
            target = context.transfer_syntax
            data = encode(
                dataset, target.is_implicit_VR, target.is_little_endian, target.is_deflated
            )
        if context is None or data is None:
            logger.info("Instance %s has no context to be sent on for C-GET", instance.pk)
            return UNABLE_TO_PROCESS, False
        store: Command = {
            "AffectedSOPClassUID": instance.sop_class_uid,
            "CommandField": C_STORE_RQ,
            "MessageID": message_id,
            "Priority": 0,
            "AffectedSOPInstanceUID": instance.sop_instance_uid,
        }
        self.association.send(context.context_id, store, data)
        cancelled = False
        while True:
            reply = self.association.receive()
            if reply is None:
                raise ProtocolError(UNEXPECTED_PDU, "A-RELEASE-RQ during a C-GET")
            command = reply.command
            responding_to = command.get("MessageIDBeingRespondedTo")
            if (
                command["CommandField"] == C_CANCEL_RQ
                and responding_to == self.request.command["MessageID"]
            ):
                cancelled = True
            elif command["CommandField"] == C_STORE_RSP and responding_to == message_id:
                return command.get("Status", UNABLE_TO_PROCESS), cancelled
            else:
                raise ProtocolError(
                    UNEXPECTED_PDU, f"command {command['CommandField']:#06x} during a C-GET"
                )

    def _respond(
        self, status: int, identifier: Dataset | None = None, *, remaining: bool = False
    ) -> None:
        response = _response(self.request.command, C_GET_RSP, status)
        if remaining:
            response["NumberOfRemainingSuboperations"] = self.remaining
        response["NumberOfCompletedSuboperations"] = self.completed
        response["NumberOfFailedSuboperations"] = self.failed
        response["NumberOfWarningSuboperations"] = self.warning
        context = self.request.context
        data = _encoded(identifier, context) if identifier is not None else None
        self.association.send(context.context_id, response, data)


# --- Server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scp:
    ae_title: str

    def admit(self, request: AssociationRequest) -> _Session | Rejection:
        """Accept only registered, active calling AE titles."""
        client_address.set(request.address)
        registration = calling_ae_get(ae_title=request.calling_ae_title)
        if registration is None:
            logger.warning(
                "Association from %s rejected: calling AE title %r is not registered or inactive",
                request.address,
                request.calling_ae_title,
            )
            return CALLING_AE_NOT_RECOGNISED
        return _Session(calling_ae=registration, own_ae_title=self.ae_title)

    def association_finished(self) -> None:
        """The association ends in its own thread: give that thread's database connection back."""
        connections.close_all()


def scp_serve(
    *,
    bind: str,
    port: int,
    ae_title: str,
    max_associations: int,
    acse_timeout: float,
    network_timeout: float,
) -> None:
    """Serve associations until the process is stopped."""
    config = AcceptorConfig(
        contexts=presentation_contexts(),
        max_associations=max_associations,
        acse_timeout=acse_timeout,
        network_timeout=network_timeout,
        max_data_set_bytes=settings.IMAGING_MAX_INSTANCE_BYTES,
    )
    logger.info("DICOM SCP %s listening on %s:%d", ae_title, bind, port)
    serve_forever(bind=bind, port=port, config=config, services=_Scp(ae_title))
