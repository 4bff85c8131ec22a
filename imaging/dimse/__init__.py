"""The DICOM SCP (`manage.py dicom_scp`): our own Upper Layer acceptor and the four services.

`upper_layer` speaks PS3.8 with no Django; `messages` encodes DIMSE command sets; `scp` serves
C-ECHO, C-STORE, C-FIND and C-GET over the archive; `identifiers` turns rows into identifiers.
"""

from imaging.dimse.scp import ACCEPTED_TRANSFER_SYNTAXES, scp_serve

__all__ = ["ACCEPTED_TRANSFER_SYNTAXES", "scp_serve"]
