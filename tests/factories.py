import factory

from members.models import Member, Store, Tag
from members.services import member_create

_MOBILE = iter(range(10**8))


def next_phone() -> str:
    """A fresh valid mainland mobile number, 139xxxxxxxx."""
    return f"139{next(_MOBILE):08d}"


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"门店{n}")
    address = "上海市静安区南京西路 1 号"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")


class MemberFactory(factory.django.DjangoModelFactory):
    """Members are made through the registration service, as in production."""

    class Meta:
        model = Member

    phone = factory.LazyFunction(next_phone)
    name = factory.Sequence(lambda n: f"会员{n}")
    store = factory.SubFactory(StoreFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return member_create(**kwargs)
