from django.core.management.base import BaseCommand
from django.db import connection, transaction

from members import crypto
from members.models import Member

ENCRYPTED = ("phone", "email", "addresses")


class Command(BaseCommand):
    help = (
        "Re-encrypt members' contact data with the current key (the first of "
        "FIELD_ENCRYPTION_KEYS) and recompute phone hashes with PHONE_HASH_KEY. "
        "Resumable: rows already on the current key with a current hash are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, batch_size, **opts):
        current = crypto.current_key_id()
        last_id, changed, seen = 0, 0, 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id, phone, email, addresses, phone_hash FROM members_member "
                    "WHERE id > %s ORDER BY id LIMIT %s",
                    [last_id, batch_size],
                )
                rows = cursor.fetchall()
            if not rows:
                break
            last_id = rows[-1][0]
            seen += len(rows)
            stale = []
            for pk, phone, email, addresses, phone_hash in rows:
                plain = [crypto.decrypt(v) if v else "" for v in (phone, email, addresses)]
                new_hash = crypto.phone_hash(plain[0]) if plain[0] else phone_hash
                on_old_key = any(
                    v and crypto.key_id_of(v) != current for v in (phone, email, addresses)
                )
                if on_old_key or new_hash != phone_hash:
                    stale.append(
                        Member(
                            pk=pk,
                            phone=plain[0],
                            email=plain[1],
                            addresses=plain[2],
                            phone_hash=new_hash,
                        )
                    )
            if stale:
                with transaction.atomic():
                    Member.objects.bulk_update(stale, [*ENCRYPTED, "phone_hash"])
                changed += len(stale)
        self.stdout.write(f"checked={seen} reencrypted={changed} key={current}")
