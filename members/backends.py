"""The staff login backend: Django's ModelBackend, reading the staff profile with the user.

Every staff request loads the session's user (django.contrib.auth.get_user) and then
its StaffProfile (store, role): one joined query instead of two.
"""

from django.contrib.auth.backends import ModelBackend

from .models import User


class StaffBackend(ModelBackend):
    def get_user(self, user_id):
        user = User._default_manager.select_related("staff_profile").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
