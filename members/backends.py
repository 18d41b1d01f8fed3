"""The staff login backend: Django's ModelBackend, reading the staff profile with the user.

Every staff request loads the session's user (django.contrib.auth.get_user) and then
its StaffProfile (store, role): one joined query instead of two, written once
(config/platform/fixed_sql.py), not built by the ORM on every request: building it cost more
than running it (docs/benchmarks.md, "lookup").
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError

from config.platform.fixed_sql import FixedRead

from .models import User

_user_with_profile = FixedRead(User, "t0.id = %s", related=("staff_profile",))


def user_with_profile(user_id) -> User | None:
    """The user `user_id` with its staff profile cached (None when it has none)."""
    try:
        user_id = User._meta.pk.to_python(user_id)
    except ValidationError:  # a session holding something that is no id
        return None
    return _user_with_profile.first(user_id)


class StaffBackend(ModelBackend):
    def get_user(self, user_id):
        user = user_with_profile(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
