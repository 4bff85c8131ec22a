"""DIMSE command sets and the C-STORE file meta, checked against pydicom and pynetdicom."""

import io

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000, UID, CTImageStorage, generate_uid
from pynetdicom.dsutils import create_file_meta, decode, encode, encode_file_meta

from imaging.dimse.messages import (
    C_GET_RSP,
    C_STORE_RQ,
    Command,
    CommandInvalid,
    command_decode,
    command_encode,
    file_meta_encode,
)


@pytest.mark.parametrize("sop_instance_uid", ["1.2.3.4", "1.2.3.45", str(generate_uid())])
def test_file_meta_is_byte_for_byte_what_pynetdicom_wrote(sop_instance_uid: str) -> None:
    expected = encode_file_meta(
        create_file_meta(
            sop_class_uid=CTImageStorage,
            sop_instance_uid=UID(sop_instance_uid),
            transfer_syntax=JPEG2000,
        )
    )
    encoded = file_meta_encode(
        sop_class_uid=CTImageStorage, sop_instance_uid=sop_instance_uid, transfer_syntax=JPEG2000
    )
    assert encoded == b"\0" * 128 + b"DICM" + expected


def test_command_set_round_trips_through_pydicom() -> None:
    command: Command = {
        "AffectedSOPClassUID": CTImageStorage,
        "CommandField": C_GET_RSP,
        "MessageIDBeingRespondedTo": 7,
        "Status": 0xFF00,
        "ErrorComment": "odd",
        "NumberOfRemainingSuboperations": 3,
        "NumberOfCompletedSuboperations": 65535,
    }
    decoded = decode(io.BytesIO(command_encode(command)), True, True)
    assert decoded.CommandGroupLength == len(command_encode(command)) - 12
    assert decoded.AffectedSOPClassUID == CTImageStorage
    assert decoded.ErrorComment == "odd"
    assert decoded.NumberOfCompletedSuboperations == 65535

    request = Dataset()
    request.CommandGroupLength = 0
    request.AffectedSOPClassUID = CTImageStorage
    request.CommandField = C_STORE_RQ
    request.MessageID = 1
    request.Priority = 0
    request.CommandDataSetType = 1
    request.AffectedSOPInstanceUID = "1.2.3"
    request.MoveOriginatorApplicationEntityTitle = "ORIGIN"
    encoded = encode(request, True, True)
    assert encoded is not None
    assert command_decode(encoded) == {
        "AffectedSOPClassUID": CTImageStorage,
        "CommandField": C_STORE_RQ,
        "MessageID": 1,
        "Priority": 0,
        "CommandDataSetType": 1,
        "AffectedSOPInstanceUID": "1.2.3",
        "MoveOriginatorApplicationEntityTitle": "ORIGIN",
    }


def test_a_truncated_command_set_is_refused() -> None:
    encoded = command_encode({"CommandField": C_STORE_RQ, "MessageID": 1})
    with pytest.raises(CommandInvalid):
        command_decode(encoded[:-3])
