"""The consortium's image archive: DICOMweb, DIMSE and image conversion."""
