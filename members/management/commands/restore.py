from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from members.backups import BackupError, backup_check, backup_restore, database_label


class Command(BaseCommand):
    help = (
        "Replace everything in the configured database with a backup that "
        "`manage.py backup` wrote (a .sqlite3 file into SQLite, a .dump into PostgreSQL). "
        "Stop the web and task processes first. Asks you to type the database's name "
        "unless --noinput. Run migrate (newer code) and check_ledger afterwards."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the backup to restore")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="do not ask for confirmation",
        )

    def handle(self, *args, file, interactive, **opts):
        try:
            backup_check(file)  # before asking: a file that cannot be restored is refused now
            label = database_label()
            if interactive:
                self.confirm(file, label)
            seconds = backup_restore(file)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Restored {file} into {label} in {seconds:.1f}s."))
        self.stdout.write(
            "Next: `manage.py migrate` if this code is newer than the backup, then "
            "`manage.py check_ledger` (it must say Ledger OK), then start the web and task "
            "processes again."
        )

    def confirm(self, file, label):
        self.stdout.write(
            f"This replaces everything in the database {label} with {file}; "
            "what it holds now is lost."
        )
        try:
            answer = input(f"Type the database's name ({label}) to go on: ")
        except EOFError:
            answer = ""
        if answer.strip() != label:
            raise CommandError("Restore cancelled: the name typed was not the database's.")
