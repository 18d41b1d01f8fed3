from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self):
        from members.signals import demo_seeded, member_erased, member_registered, member_updated

        from . import receivers

        # Inside the registration transaction: the card exists whenever the member does.
        member_registered.connect(receivers.create_card, dispatch_uid="loyalty.create_card")
        member_registered.connect(receivers.welcome, dispatch_uid="loyalty.benefits.welcome")
        member_registered.connect(receivers.reward_referrer, dispatch_uid="loyalty.reward_referrer")
        member_updated.connect(receivers.reward_profile, dispatch_uid="loyalty.reward_profile")
        # Inside the erasure transaction: points forfeited, coupons voided, pickups
        # cancelled. Connected before campaigns' erase_messages (INSTALLED_APPS order),
        # so the notices these changes write are deleted with the member's other messages.
        member_erased.connect(receivers.erase, dispatch_uid="loyalty.erase")
        demo_seeded.connect(receivers.seed_demo, dispatch_uid="loyalty.seed_demo")

        # Screens show settings and tiers from short-lived per-process copies.
        from django.db.models.signals import post_delete, post_save

        from . import display
        from .models import LoyaltySettings, Tier

        for model in (LoyaltySettings, Tier):
            for signal in (post_save, post_delete):
                uid = f"loyalty.display.{model.__name__}"
                signal.connect(display.forget, sender=model, dispatch_uid=uid)

        # The member's card, points, purchases and coupons in "download my data".
        from members.privacy import EXPORT_SECTIONS

        from .centre.views import loyalty_export

        if loyalty_export not in EXPORT_SECTIONS:
            EXPORT_SECTIONS.append(loyalty_export)
