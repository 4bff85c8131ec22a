"""DICOMweb views: STOW-RS, QIDO-RS and WADO-RS (PS3.18) over the archive's services."""

from imaging.dicomweb.common import dicomweb
from imaging.dicomweb.pixels import bulkdata, frames, rendered, thumbnail
from imaging.dicomweb.retrieve import metadata, retrieve
from imaging.dicomweb.search import search_instances, search_series, search_studies
from imaging.dicomweb.store import stow

# Views by URL, for imaging/urls.py.
studies_view = dicomweb({"GET": search_studies, "POST": stow})
study_view = dicomweb({"GET": retrieve, "POST": stow})
study_metadata_view = dicomweb({"GET": metadata})
study_series_view = dicomweb({"GET": search_series})
study_instances_view = dicomweb({"GET": search_instances})
series_view = dicomweb({"GET": retrieve})
series_metadata_view = dicomweb({"GET": metadata})
series_instances_view = dicomweb({"GET": search_instances})
instance_view = dicomweb({"GET": retrieve})
instance_metadata_view = dicomweb({"GET": metadata})
all_series_view = dicomweb({"GET": search_series})
all_instances_view = dicomweb({"GET": search_instances})
study_rendered_view = dicomweb({"GET": rendered})
series_rendered_view = dicomweb({"GET": rendered})
instance_rendered_view = dicomweb({"GET": rendered})
frames_view = dicomweb({"GET": frames})
frames_rendered_view = dicomweb({"GET": rendered})
study_thumbnail_view = dicomweb({"GET": thumbnail})
series_thumbnail_view = dicomweb({"GET": thumbnail})
instance_thumbnail_view = dicomweb({"GET": thumbnail})
bulkdata_view = dicomweb({"GET": bulkdata})
