from django.apps import AppConfig


class ConsultConfig(AppConfig):
    name = "consult"

    def ready(self) -> None:
        # Imported here: the views need the app registry, which is complete only now.
        from consult.views.duty import specialist_home_cards
        from server.directory.models import Role
        from server.lib.home import home_card_provider_register

        home_card_provider_register(role=Role.SPECIALIST, provider=specialist_home_cards)
