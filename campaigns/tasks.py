"""Thin task entry points (django-q2 calls them by dotted path); the work is in outbox.py."""

from .outbox import messages_recover_stuck, messages_send


def send_messages(day=None, now=None) -> dict:
    recovered = messages_recover_stuck(now=now)
    return {**messages_send(now=now), "recovered": recovered}
