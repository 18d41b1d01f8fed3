"""The member file's inviters: an inviter's phone becomes the member's referrer.

After the rows are in (so an inviter further down the same file is a member by then),
the file is read once more, when it has an inviter column: each row's member gets the
inviter as referrer (Member.referred_by) when the inviter is a member and the member
has none yet. A member's referrer is never replaced (counted as "kept"), nor is a
member their own; an inviter who is no member is counted as "unknown", and the row
is not refused for it (its member is in). No referral reward is given: the old
system gave its own. Each link is in the member's audit trail. A dry run counts what
would be linked, an inviter on a row of the file counting as a member.
"""

from bisect import bisect_left

from django.db import connection, transaction
from django.utils import timezone

from members.models import Member

from ..models import ImportRowError
from . import phones
from .writer import audit_imported

BATCH = 2000


def _in(keys, key: int) -> bool:
    at = bisect_left(keys, key)
    return at < len(keys) and keys[at] == key


def link_referrers(
    *, job, table, validator, dry_run: bool, file_keys=None, beat=lambda: None
) -> dict:
    """Link every row's inviter; {"linked": n, "unknown": n, "kept": n}. A row the run
    refused is left out (nothing of it is imported); `beat` keeps the job's claim."""
    counts = {"linked": 0, "unknown": 0, "kept": 0}
    refused = set(
        ImportRowError.objects.filter(job=job, dry_run=dry_run).values_list("line", flat=True)
    )
    batch = []
    for line, cells in table.rows():
        if line in refused:
            continue
        inviter = validator.phone_of(cells, "referrer_phone")
        member = validator.phone_of(cells) if inviter else None
        if inviter and member and inviter != member:
            batch.append((validator.hash(member), validator.hash(inviter), inviter))
        if len(batch) >= BATCH:
            _link(job, batch, counts, dry_run, file_keys)
            batch = []
            beat()
    if batch:
        _link(job, batch, counts, dry_run, file_keys)
    return counts


def _link(job, batch, counts, dry_run, file_keys) -> None:
    with transaction.atomic():
        hashes = {h for pair in batch for h in pair[:2]}
        members = Member.objects.filter(phone_hash__in=hashes)
        if not dry_run and connection.features.has_select_for_update:
            members = members.select_for_update()
        found = {
            m["phone_hash"]: m
            for m in members.values(
                "pk", "phone_hash", "referred_by_id", "member_no", "store_id", "name"
            )
        }
        links = []
        for member_hash, inviter_hash, inviter_phone in batch:
            member, inviter = found.get(member_hash), found.get(inviter_hash)
            if member is None and not dry_run:
                continue  # the row was refused: its member is not in
            in_file = (
                dry_run and file_keys is not None and _in(file_keys, phones.key_of(inviter_phone))
            )
            if inviter is None or member is None:  # dry: a new member, or a new inviter
                counts["linked" if inviter is not None or in_file else "unknown"] += 1
                continue
            if member["referred_by_id"] is not None:
                if member["referred_by_id"] != inviter["pk"]:
                    counts["kept"] += 1
                continue
            counts["linked"] += 1
            links.append((member, inviter))
        if dry_run or not links:
            return
        Member.objects.bulk_update(
            [Member(pk=m["pk"], referred_by_id=i["pk"]) for m, i in links], ["referred_by"]
        )
        audit_imported(
            [(m, m["store_id"], {"referred_by": [None, i["member_no"]]}) for m, i in links],
            job_id=job.pk,
            actor_id=job.created_by_id,
            now=timezone.now(),
        )
