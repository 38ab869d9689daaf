"""`manage.py demo_login`: a login for a database that already has data (a second `make run`).

Gives a church's staff account (the church's first active one, or a new `<slug>-staff`) a new
password and prints its line in the same format as seed_demo, which `make run` shows:
    account: <username> password: <password> church: <slug> role: staff
`--admin` does the same for a platform admin (`admin`, created when missing). The password is
random unless given (`--password`); nothing else is changed.
"""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from members.models import Church, User


class Command(BaseCommand):
    help = "Reset (or create) a demo staff account's password and print its account line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--church", help="the church's slug (default: the first church by name)")
        parser.add_argument("--password", help="the new password (default: a random one)")
        parser.add_argument("--admin", action="store_true", help="a platform admin's login instead")

    @transaction.atomic
    def handle(self, *args, **opts) -> None:
        password = opts["password"] or secrets.token_urlsafe(9)
        if opts["admin"]:
            user = User.objects.filter(is_staff=True, is_superuser=True, church=None, is_active=True).order_by("id").first()
            if user is None:
                user = User(username=_free_username("admin"), is_staff=True, is_superuser=True,
                            email="admin@flock.example")
            user.set_password(password)
            user.save()
            self.stdout.write(f"account: {user.username} password: {password} church: - role: admin")
            return
        churches = Church.objects.order_by("name", "id")
        church = churches.filter(slug=opts["church"]).first() if opts["church"] else churches.first()
        if church is None:
            raise CommandError(f"No church {opts['church']!r}." if opts["church"]
                               else "There is no church yet: `manage.py seed_demo` makes demo data.")
        user = User.objects.filter(church=church, is_active=True).order_by("id").first()
        if user is None:
            user = User(username=_free_username(f"{church.slug}-staff"), church=church,
                        email=f"{church.slug}-staff@flock.example")
        user.set_password(password)
        user.save()
        self.stdout.write(f"account: {user.username} password: {password} church: {church.slug} role: staff")


def _free_username(base: str) -> str:
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name
