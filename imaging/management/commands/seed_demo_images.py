"""Store the demo studies for the demo consortium (run after seed_demo). Safe to run repeatedly."""

from typing import Any

from django.core.management.base import BaseCommand

from imaging.demo import demo_images_seed


class Command(BaseCommand):
    help = "Store demo studies (test images from pydicom) for a demo township patient."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_images_seed()
        for description in result.stored:
            self.stdout.write(f"  stored   {description}")
        for description in result.skipped:
            self.stdout.write(f"  present  {description}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo images ready; calling AE title {result.ae_title} stores for 东坝镇卫生院."
            )
        )
