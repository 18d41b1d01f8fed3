from .services import card_create


def create_card(sender, member, **kwargs):
    card_create(member=member)


def seed_demo(sender, member_ids, purchases, rng, stdout, **kwargs):
    from .demo import seed_loyalty

    seed_loyalty(member_ids=member_ids, purchases=purchases, rng=rng, stdout=stdout)
