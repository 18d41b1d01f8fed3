from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from members.sms_replies import Reply, sms_reply_record


class Command(BaseCommand):
    help = (
        "Record a reply to a marketing SMS (上行短信): T, TD, 退订, N, 取消 or R withdraw the "
        "member's marketing consent; anything else is ignored. Last line: unsubscribed=1 "
        "or unsubscribed=0. Safe to repeat."
    )

    def add_arguments(self, parser):
        parser.add_argument("--phone", required=True, help="the number that replied")
        parser.add_argument("--text", required=True, help="what it replied")

    def handle(self, *args, phone, text, **options):
        try:
            outcome = sms_reply_record(phone=phone, text=text)
        except ValidationError as exc:
            raise CommandError(f"{phone}: {' '.join(exc.messages)}") from exc
        if outcome != Reply.UNSUBSCRIBED:
            self.stdout.write(outcome)
        self.stdout.write(f"unsubscribed={int(outcome == Reply.UNSUBSCRIBED)}")
