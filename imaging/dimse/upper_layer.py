"""The DICOM Upper Layer as an acceptor (PS3.8): a blocking thread per association.

pynetdicom serves only as a codec for the association PDUs and for presentation context
negotiation; its AE, Association and DUL threads are not used, because they poll queues with
1 ms sleeps and so cost more per C-STORE than the archive's whole ingest. The acceptor only ever
answers: it never requests an association or a release, so the PS3.8 state machine reduces to
"wait for A-ASSOCIATE-RQ, accept or reject, exchange P-DATA until release or abort".
"""

import contextlib
import logging
import select
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from pydicom.uid import UID
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ, A_RELEASE_RP
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    A_P_ABORT,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor

from imaging.dimse.messages import (
    C_CANCEL_RQ,
    DATA_SET_PRESENT,
    NO_DATA_SET,
    Command,
    CommandInvalid,
    command_decode,
    command_encode,
)

logger = logging.getLogger(__name__)

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
# Identifies this upper layer to peers (PS3.7 D.3.3.2); a UUID-derived UID (PS3.5 B.2).
IMPLEMENTATION_CLASS_UID = "2.25.61485941917296573856612536984897219386"
IMPLEMENTATION_VERSION_NAME = "YUNZHEN_DUL_1"
# The largest P-DATA-TF PDU a peer may send. Finite so that one PDU cannot make the SCP
# allocate an arbitrary buffer before a byte of it arrives; 4 MiB makes the per-PDU cost
# negligible even for large images, which arrive in a few PDUs.
MAXIMUM_PDU_LENGTH = 4 * 1024 * 1024
# An A-ASSOCIATE-RQ proposing 128 contexts with a dozen transfer syntaxes each is ~100 kB.
_MAXIMUM_REQUEST_LENGTH = 1024 * 1024
# PS3.8 requires the peer to state its maximum; one that does not gets fragments of dcmtk's
# default size, which every implementation accepts.
_DEFAULT_PEER_MAXIMUM = 16384
# Sends are batched up to this size so a small response is one system call.
_SEND_BATCH = 1024 * 1024

_A_ASSOCIATE_RQ = 0x01
_P_DATA_TF = 0x04
_A_RELEASE_RQ = 0x05
_A_ABORT = 0x07
_PDU_HEADER = struct.Struct(">BxI")
_PDV_HEADER = struct.Struct(">IBB")
_PDV_COMMAND = 0x01
_PDV_LAST = 0x02
# A-ABORT provider reasons (PS3.8 9.3.8).
_REASON_NOT_SPECIFIED = 0x00
_UNRECOGNISED_PDU = 0x01
UNEXPECTED_PDU = 0x02
_INVALID_PARAMETER = 0x06


@dataclass(frozen=True)
class Rejection:
    """A-ASSOCIATE-RJ result, source and diagnostic (PS3.8 9.3.4)."""

    result: int
    source: int
    diagnostic: int


CALLING_AE_NOT_RECOGNISED = Rejection(0x01, 0x01, 0x03)
_APPLICATION_CONTEXT_NOT_SUPPORTED = Rejection(0x01, 0x01, 0x02)
_PROTOCOL_VERSION_NOT_SUPPORTED = Rejection(0x01, 0x02, 0x02)
_LOCAL_LIMIT_EXCEEDED = Rejection(0x02, 0x03, 0x02)


@dataclass(frozen=True)
class AcceptedContext:
    """An accepted presentation context and whether the SCP may send C-STOREs on it."""

    context_id: int
    abstract_syntax: UID
    transfer_syntax: UID
    scu_role: bool


@dataclass(frozen=True)
class Message:
    """One DIMSE message: its command set decoded, its data set (if any) as received."""

    context: AcceptedContext
    command: Command
    dataset: bytes | None


@dataclass(frozen=True)
class AssociationRequest:
    calling_ae_title: str
    address: str


class Session(Protocol):
    """The services of one accepted association."""

    def handle(self, association: "Association", message: Message) -> None: ...


class Services(Protocol):
    """What the acceptor asks of the application, in each association's own thread."""

    def admit(self, request: AssociationRequest) -> Session | Rejection: ...

    def association_finished(self) -> None: ...


@dataclass(frozen=True)
class AcceptorConfig:
    contexts: list[PresentationContext]
    max_associations: int
    acse_timeout: float
    network_timeout: float
    # The largest data set a message may carry; a larger one aborts the association before
    # it fills the memory (the archive refuses such an instance anyway).
    max_data_set_bytes: int


class _ConnectionClosed(Exception):
    """The peer closed the connection (or it broke) without an A-ABORT."""


class _AbortedByPeer(Exception):
    """The peer sent an A-ABORT."""


class ProtocolError(Exception):
    """The peer broke the protocol: the association is aborted with this provider reason."""

    def __init__(self, reason: int, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _receive_exactly(sock: socket.socket, length: int) -> bytearray:
    buffer = bytearray(length)
    view = memoryview(buffer)
    received = 0
    while received < length:
        count = sock.recv_into(view[received:], length - received)
        if count == 0:
            raise _ConnectionClosed
        received += count
    return buffer


def _receive_pdu(sock: socket.socket, maximum: int) -> tuple[int, bytearray]:
    """One PDU: its type and its variable field."""
    pdu_type, length = _PDU_HEADER.unpack(_receive_exactly(sock, _PDU_HEADER.size))
    if length > maximum:
        raise ProtocolError(_INVALID_PARAMETER, f"PDU of {length} bytes")
    return pdu_type, _receive_exactly(sock, length)


def _pdvs(body: bytearray) -> Iterator[tuple[int, int, memoryview]]:
    """The presentation data values of a P-DATA-TF: context id, control header, fragment."""
    view = memoryview(body)
    offset = 0
    while offset < len(body):
        if len(body) - offset < _PDV_HEADER.size:
            raise ProtocolError(_INVALID_PARAMETER, "truncated PDV")
        length, context_id, control = _PDV_HEADER.unpack_from(body, offset)
        end = offset + 4 + length
        if length < 2 or end > len(body):
            raise ProtocolError(_INVALID_PARAMETER, "PDV length out of range")
        yield context_id, control, view[offset + _PDV_HEADER.size : end]
        offset = end


def _p_data_tf(context_id: int, control: int, fragment: bytes | memoryview) -> bytes:
    pdv = _PDV_HEADER.pack(len(fragment) + 2, context_id, control)
    return _PDU_HEADER.pack(_P_DATA_TF, len(pdv) + len(fragment)) + pdv + fragment


class Association:
    """An established association: DIMSE messages in and out over one socket."""

    def __init__(
        self,
        sock: socket.socket,
        contexts: dict[int, AcceptedContext],
        peer_maximum_pdu: int,
        max_data_set_bytes: int,
    ) -> None:
        self.contexts = contexts
        self._sock = sock
        self._peer_maximum_pdu = peer_maximum_pdu
        self._max_data_set_bytes = max_data_set_bytes
        self._pending_pdvs: deque[tuple[int, int, memoryview]] = deque()
        self._backlog: deque[Message] = deque()
        self._release_requested = False

    def receive(self) -> Message | None:
        """The next message; None once the peer has released the association."""
        if self._backlog:
            return self._backlog.popleft()
        if self._release_requested:
            return None
        return self._receive_message()

    def cancel_requested(self, message_id: int) -> bool:
        """Whether the peer asked to cancel `message_id` (or to release); never blocks.

        Other messages that arrived meanwhile are kept for `receive`.
        """
        if self._release_requested:
            return True
        while self._pending_pdvs or select.select([self._sock], [], [], 0)[0]:
            message = self._receive_message()
            if message is None:
                return True
            if (
                message.command["CommandField"] == C_CANCEL_RQ
                and message.command.get("MessageIDBeingRespondedTo") == message_id
            ):
                return True
            self._backlog.append(message)
        return False

    def send(self, context_id: int, command: Command, dataset: bytes | None = None) -> None:
        """Send one message, fragmented to the peer's maximum PDU length."""
        data_set_type = NO_DATA_SET if dataset is None else DATA_SET_PRESENT
        encoded = command_encode({**command, "CommandDataSetType": data_set_type})
        batch = [_p_data_tf(context_id, _PDV_COMMAND | _PDV_LAST, encoded)]
        if dataset is not None:
            size = self._peer_maximum_pdu - _PDV_HEADER.size if self._peer_maximum_pdu else 0
            size = size or max(len(dataset), 1)
            view = memoryview(dataset)
            batched = len(batch[0])
            for start in range(0, max(len(dataset), 1), size):
                last = start + size >= len(dataset)
                batch.append(
                    _p_data_tf(context_id, _PDV_LAST if last else 0, view[start : start + size])
                )
                batched += len(batch[-1])
                if batched >= _SEND_BATCH:
                    self._sock.sendall(b"".join(batch))
                    batch, batched = [], 0
        if batch:
            self._sock.sendall(b"".join(batch))

    def _next_pdv(self) -> tuple[int, int, memoryview] | None:
        """The next PDV, reading PDUs as needed; None on A-RELEASE-RQ."""
        while not self._pending_pdvs:
            pdu_type, body = _receive_pdu(self._sock, MAXIMUM_PDU_LENGTH)
            if pdu_type == _P_DATA_TF:
                self._pending_pdvs.extend(_pdvs(body))
            elif pdu_type == _A_RELEASE_RQ:
                self._release_requested = True
                return None
            elif pdu_type == _A_ABORT:
                raise _AbortedByPeer
            elif pdu_type in (0x01, 0x02, 0x03, 0x06):
                raise ProtocolError(UNEXPECTED_PDU, f"PDU type {pdu_type:#04x}")
            else:
                raise ProtocolError(_UNRECOGNISED_PDU, f"PDU type {pdu_type:#04x}")
        return self._pending_pdvs.popleft()

    def _receive_message(self) -> Message | None:
        """Reassemble the command set and data set of the next message."""
        context_id: int | None = None
        command: Command | None = None
        parts: list[memoryview] = []
        size = 0
        while True:
            pdv = self._next_pdv()
            if pdv is None:
                if context_id is not None:
                    raise ProtocolError(UNEXPECTED_PDU, "A-RELEASE-RQ inside a message")
                return None
            pdv_context, control, fragment = pdv
            if pdv_context not in self.contexts or context_id not in (None, pdv_context):
                raise ProtocolError(_INVALID_PARAMETER, f"PDV for context {pdv_context}")
            context_id = pdv_context
            if bool(control & _PDV_COMMAND) != (command is None):
                raise ProtocolError(UNEXPECTED_PDU, "command and data set fragments mixed")
            parts.append(fragment)
            size += len(fragment)
            if size > self._max_data_set_bytes:
                raise ProtocolError(
                    _INVALID_PARAMETER, f"data set over {self._max_data_set_bytes} bytes"
                )
            if not control & _PDV_LAST:
                continue
            data = b"".join(parts)
            parts = []
            if command is None:
                try:
                    command = command_decode(data)
                except CommandInvalid as exc:
                    raise ProtocolError(_INVALID_PARAMETER, str(exc)) from exc
                if command.get("CommandDataSetType", NO_DATA_SET) == NO_DATA_SET:
                    return Message(self.contexts[context_id], command, None)
            else:
                return Message(self.contexts[context_id], command, data)


def _abort(sock: socket.socket, reason: int) -> None:
    primitive = A_P_ABORT()
    primitive.provider_reason = reason
    with contextlib.suppress(OSError):  # The peer may be gone already.
        sock.sendall(A_ABORT_RQ(primitive).encode())


def _finish(sock: socket.socket, timeout: float) -> None:
    """Close after the last PDU, once the peer has read it (PS3.8: the requestor closes)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(timeout)
        while sock.recv(4096):
            pass
    except OSError:
        pass  # Timed out or reset: the connection is closed either way.


def _reject(sock: socket.socket, rejection: Rejection) -> None:
    primitive = A_ASSOCIATE()
    primitive.result = rejection.result
    primitive.result_source = rejection.source
    primitive.diagnostic = rejection.diagnostic
    sock.sendall(A_ASSOCIATE_RJ(primitive).encode())


def _accept(
    sock: socket.socket, rq: A_ASSOCIATE, supported: list[PresentationContext]
) -> dict[int, AcceptedContext]:
    """Negotiate the presentation contexts and roles, send the A-ASSOCIATE-AC."""
    roles = {
        item.sop_class_uid: (item.scu_role, item.scp_role)
        for item in rq.user_information
        if isinstance(item, SCP_SCU_RoleSelectionNegotiation) and item.sop_class_uid
    }
    results, role_replies = negotiate_as_acceptor(
        rq.presentation_context_definition_list, supported, roles
    )
    maximum = MaximumLengthNotification()
    maximum.maximum_length_received = MAXIMUM_PDU_LENGTH
    implementation_class = ImplementationClassUIDNotification()
    implementation_class.implementation_class_uid = UID(IMPLEMENTATION_CLASS_UID)
    implementation_version = ImplementationVersionNameNotification()
    implementation_version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    ac = A_ASSOCIATE()
    ac.application_context_name = UID(APPLICATION_CONTEXT)
    ac.calling_ae_title = rq.calling_ae_title
    ac.called_ae_title = rq.called_ae_title
    ac.result = 0x00
    ac.result_source = 0x01
    ac.presentation_context_definition_results_list = results
    ac.user_information = [maximum, implementation_class, implementation_version, *role_replies]
    sock.sendall(A_ASSOCIATE_AC(ac).encode())
    return {
        context.context_id: AcceptedContext(
            context_id=context.context_id,
            abstract_syntax=UID(str(context.abstract_syntax)),
            transfer_syntax=UID(context.transfer_syntax[0]),
            scu_role=bool(context.as_scu),
        )
        for context in results
        if context.result == 0x00 and context.context_id is not None
    }


def _peer_maximum_pdu(rq: A_ASSOCIATE) -> int:
    for item in rq.user_information:
        if isinstance(item, MaximumLengthNotification):
            return item.maximum_length_received
    return _DEFAULT_PEER_MAXIMUM


def _read_request(sock: socket.socket) -> A_ASSOCIATE_RQ:
    pdu_type, body = _receive_pdu(sock, _MAXIMUM_REQUEST_LENGTH)
    if pdu_type != _A_ASSOCIATE_RQ:
        raise ProtocolError(UNEXPECTED_PDU, f"PDU type {pdu_type:#04x} before A-ASSOCIATE-RQ")
    pdu = A_ASSOCIATE_RQ()
    try:
        pdu.decode(_PDU_HEADER.pack(pdu_type, len(body)) + body)
    except (ValueError, struct.error, IndexError, KeyError) as exc:
        raise ProtocolError(_INVALID_PARAMETER, "undecodable A-ASSOCIATE-RQ") from exc
    return pdu


class _Slots:
    """Counts associations in progress against the configured maximum."""

    def __init__(self, maximum: int) -> None:
        self._maximum = maximum
        self._taken = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._taken >= self._maximum:
                return False
            self._taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._taken -= 1


def _negotiate(
    sock: socket.socket, address: str, config: AcceptorConfig, services: Services, slot: bool
) -> tuple[Association, Session] | None:
    """Read the A-ASSOCIATE-RQ and accept it, or reject it and return None."""
    sock.settimeout(config.acse_timeout)  # ARTIM
    pdu = _read_request(sock)
    rq = pdu.to_primitive()
    request = AssociationRequest(
        calling_ae_title=rq.calling_ae_title.strip(),
        address=address,
    )
    decision: Session | Rejection
    if not slot:
        decision = _LOCAL_LIMIT_EXCEEDED
    elif not pdu.protocol_version & 0x01:
        decision = _PROTOCOL_VERSION_NOT_SUPPORTED
    elif rq.application_context_name != APPLICATION_CONTEXT:
        decision = _APPLICATION_CONTEXT_NOT_SUPPORTED
    else:
        decision = services.admit(request)
    if isinstance(decision, Rejection):
        logger.info("Association from %s rejected: %s", address, decision)
        _reject(sock, decision)
        _finish(sock, config.acse_timeout)
        return None
    contexts = _accept(sock, rq, config.contexts)
    logger.info(
        "Association from %s (%s) accepted with %d contexts",
        address,
        request.calling_ae_title,
        len(contexts),
    )
    sock.settimeout(config.network_timeout)
    association = Association(
        sock, contexts, _peer_maximum_pdu(rq), max_data_set_bytes=config.max_data_set_bytes
    )
    return association, decision


def _serve_connection(
    sock: socket.socket, address: str, config: AcceptorConfig, services: Services, slot: bool
) -> None:
    """Serve one connection from A-ASSOCIATE-RQ to release or abort."""
    try:
        negotiated = _negotiate(sock, address, config, services, slot)
        if negotiated is not None:
            association, session = negotiated
            while (message := association.receive()) is not None:
                session.handle(association, message)
            sock.sendall(A_RELEASE_RP().encode())
            _finish(sock, config.acse_timeout)
            logger.info("Association from %s released", address)
    except ProtocolError as exc:
        logger.warning("Association from %s aborted: %s", address, exc)
        _abort(sock, exc.reason)
    except TimeoutError:
        logger.info("Association from %s aborted: nothing received in time", address)
        _abort(sock, _REASON_NOT_SPECIFIED)
    except _AbortedByPeer:
        logger.info("Association from %s aborted by the peer", address)
    except (_ConnectionClosed, ConnectionError):
        logger.info("Association from %s: connection lost", address)
    except Exception:
        # A failing service (the database gone, a bug) ends its association, not the server.
        logger.exception("Association from %s aborted: the service failed", address)
        _abort(sock, _REASON_NOT_SPECIFIED)
    finally:
        sock.close()
        services.association_finished()


def serve_forever(*, bind: str, port: int, config: AcceptorConfig, services: Services) -> None:
    """Accept connections until the process ends, each association in its own thread."""
    slots = _Slots(config.max_associations)

    def serve(sock: socket.socket, address: str) -> None:
        slot = slots.take()
        try:
            _serve_connection(sock, address, config, services, slot)
        finally:
            if slot:
                slots.give_back()

    with socket.create_server((bind, port), backlog=64) as listener:
        while True:
            sock, (host, *_) = listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve, args=(sock, host), daemon=True).start()
