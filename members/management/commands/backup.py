from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from members.backups import BackupError, backup_make


class Command(BaseCommand):
    help = (
        "Back up the database into BACKUP_DIR: SQLite through its online backup API "
        "(consistent while the app writes), PostgreSQL with pg_dump --format=custom; "
        "then delete the oldest of this command's backups beyond --keep (no other file). "
        "Last line: the backup's path, to copy off the host."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            dest="directory",
            help="where to write (default: BACKUP_DIR)",
        )
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help="how many of this command's backups to keep (default: BACKUP_KEEP)",
        )

    def handle(self, *args, directory, keep, **opts):
        directory = directory if directory is not None else settings.BACKUP_DIR
        keep = keep if keep is not None else settings.BACKUP_KEEP
        try:
            backup = backup_make(directory=directory, keep=keep)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for old in backup.removed:
            self.stdout.write(f"Removed old backup {old}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {backup.size / 1_000_000:,.1f} MB in {backup.seconds:.1f}s."
            )
        )
        self.stdout.write(str(backup.path))
