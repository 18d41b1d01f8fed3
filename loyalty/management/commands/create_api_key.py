from django.core.management.base import BaseCommand, CommandError

from loyalty.models import ApiKey
from members.models import Store


class Command(BaseCommand):
    help = (
        "Create an API key for a store's POS or online mall. "
        "The key is printed once, on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store code")
        parser.add_argument("--name", required=True, help="a label, e.g. 'POS counter 1'")

    def handle(self, *args, store, name, **opts):
        shop = Store.objects.filter(code=store).first()
        if shop is None:
            raise CommandError(f"No store with code {store!r}.")
        if not name.strip():
            raise CommandError("--name must not be empty.")
        key_obj, key = ApiKey.issue(store=shop, name=name.strip())
        self.stdout.write(f"API key {key_obj.pk} for {shop.code} ({shop.name}), label {name!r}.")
        self.stdout.write("Store it now: only a hash is kept. Revoke it in the admin (API keys).")
        self.stdout.write(key)
