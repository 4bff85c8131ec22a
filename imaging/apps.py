from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"

    def ready(self) -> None:
        from imaging.selectors.audit import studies_describe  # the app registry is ready now
        from server.audit.resources import resource_describer_register

        resource_describer_register("Study", studies_describe)
