"""Verify the audit trail's hash chain; exit non-zero if any row was altered or removed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from server.audit.services import audit_chain_breaks


class Command(BaseCommand):
    help = "Check that no audit event was altered, deleted or cut off the end of the chain."

    def handle(self, *args: Any, **options: Any) -> None:
        breaks = list(audit_chain_breaks())
        for chain_break in breaks:
            self.stderr.write(f"audit event {chain_break.seq}: {chain_break.problem}")
        if breaks:
            raise CommandError(f"Audit trail is broken in {len(breaks)} place(s).")
        self.stdout.write(self.style.SUCCESS("Audit trail intact."))
