from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "server.directory"
    label = "directory"
    verbose_name = "Consortium directory"
