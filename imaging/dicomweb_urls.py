"""DICOMweb URLs (PS3.18 Studies Service), mounted at /dicomweb/."""

from django.urls import path

from imaging import dicomweb

app_name = "imaging"
_S = "studies/<str:study>"
_SE = _S + "/series/<str:series>"
_I = _SE + "/instances/<str:instance>"
urlpatterns = [
    path("studies", dicomweb.studies_view, name="studies"),
    path("series", dicomweb.all_series_view, name="all-series"),
    path("instances", dicomweb.all_instances_view, name="all-instances"),
    path(_S, dicomweb.study_view, name="study"),
    path(_S + "/metadata", dicomweb.study_metadata_view, name="study-metadata"),
    path(_S + "/series", dicomweb.study_series_view, name="study-series"),
    path(_S + "/instances", dicomweb.study_instances_view, name="study-instances"),
    path(_SE, dicomweb.series_view, name="series"),
    path(_SE + "/metadata", dicomweb.series_metadata_view, name="series-metadata"),
    path(_SE + "/instances", dicomweb.series_instances_view, name="series-instances"),
    path(_I, dicomweb.instance_view, name="instance"),
    path(_I + "/metadata", dicomweb.instance_metadata_view, name="instance-metadata"),
    path(_S + "/rendered", dicomweb.study_rendered_view, name="study-rendered"),
    path(_SE + "/rendered", dicomweb.series_rendered_view, name="series-rendered"),
    path(_I + "/rendered", dicomweb.instance_rendered_view, name="instance-rendered"),
    path(_I + "/frames/<str:frames>", dicomweb.frames_view, name="frames"),
    path(
        _I + "/frames/<str:frames>/rendered", dicomweb.frames_rendered_view, name="frames-rendered"
    ),
    path(_S + "/thumbnail", dicomweb.study_thumbnail_view, name="study-thumbnail"),
    path(_SE + "/thumbnail", dicomweb.series_thumbnail_view, name="series-thumbnail"),
    path(_I + "/thumbnail", dicomweb.instance_thumbnail_view, name="instance-thumbnail"),
    path(_I + "/bulkdata/<path:path>", dicomweb.bulkdata_view, name="bulkdata"),
]
