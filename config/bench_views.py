"""Baseline views for bench/, routed only when BENCH_URLS is on (config/urls.py).

They are floors, not features: each does the least that a real endpoint must do,
so a benchmark can print its figure beside what Django and the database cost alone
(docs/benchmarks.md). /bench/hello (members.views.bench_hello) is the read floor.
"""

import json

from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from loyalty.models import Card, PointsEntry
from members.views import staff_required


@staff_required
def staff_hello(request):
    """The floor of every staff screen: the session and the signed-in staff user read
    (what staff_required costs), then an empty answer. No view of ours can be cheaper."""
    return HttpResponse("hello staff")


@csrf_exempt  # wrk posts without a session; the route exists only under BENCH_URLS
@require_POST
def ledger_insert(request):
    """The bare locked ledger write that recording a purchase is built on.

    Body: {"ref": unique key, "member_id": id, ...}. One transaction: lock the card,
    append one entry of +1 point as an open lot, update the cached balance, so the
    ledger invariant (balance == SUM(delta) == SUM(remaining)) still holds after.
    """
    try:
        data = json.loads(request.body)
        member_id, ref = int(data["member_id"]), str(data["ref"])
    except (ValueError, KeyError, TypeError):
        return HttpResponseBadRequest("member_id and ref are required")
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=member_id)
        card.points_balance += 1
        PointsEntry.objects.create(
            member_id=member_id,
            kind=PointsEntry.Kind.EARN,
            delta=1,
            balance_after=card.points_balance,
            remaining=1,
            idempotency_key=f"bench:{ref}",
            reason="bench",
        )
        card.save(update_fields=["points_balance"])
    return JsonResponse({"points_balance": card.points_balance}, status=201)
