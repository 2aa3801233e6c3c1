"""``kapstone token create USERNAME`` prints a new API token on one line.

Also ``token list USERNAME`` and ``token revoke PREFIX``. Tokens are stored hashed; a lost token
cannot be shown again, only revoked and replaced.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kapstone.accounts.models import ApiToken, User
from kapstone.accounts.services import api_token_create, api_token_revoke
from kapstone.domain.errors import DomainError


class Command(BaseCommand):
    help = "Create, list or revoke API tokens for staff users and portal patients."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        create = sub.add_parser("create", help="print a new token for USERNAME")
        create.add_argument("username")
        create.add_argument("--name", default="", help="a label, e.g. the device it is for")
        listing = sub.add_parser("list", help="list USERNAME's tokens (prefixes only)")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke the token starting with PREFIX")
        revoke.add_argument("prefix")

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}", returncode=2)
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        subcommand = options["subcommand"]
        if subcommand == "create":
            try:
                _, token = api_token_create(
                    actor=None, user=self._user(options["username"]), name=options["name"]
                )
            except DomainError as error:
                raise CommandError(error.message, returncode=2) from error
            self.stdout.write(token)
        elif subcommand == "list":
            for row in ApiToken.objects.filter(user=self._user(options["username"])):
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                self.stdout.write(f"{row.prefix}…  {row.created_at:%Y-%m-%d}  {state}  {row.name}")
        else:
            prefix = options["prefix"]
            matches = (
                list(ApiToken.objects.filter(prefix__startswith=prefix[:12])) if len(prefix) >= 8 else []
            )
            if len(matches) != 1:
                raise CommandError("give at least 8 characters of exactly one token's prefix", returncode=2)
            api_token_revoke(actor=None, token=matches[0])
            self.stdout.write(f"revoked {matches[0].prefix}…")
