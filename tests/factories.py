"""factory-boy factories for the plain rows tests need in numbers (clinics, staff).

Clinical records are made through the services instead, so that tests exercise the same
validation and audit path as the product.
"""

import factory
from django.contrib.auth.hashers import make_password

from kapstone.accounts.models import Clinic, User

TEST_PASSWORD = "correct-horse-battery-staple"


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    timezone = "America/New_York"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.LazyAttribute(lambda o: o.username.capitalize())
    # Hashed here (with the test hasher) and saved with the row (no second save after post-generation).
    password = factory.LazyFunction(lambda: make_password(TEST_PASSWORD))
