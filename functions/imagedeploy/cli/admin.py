"""``imagedeploy admin``: operator commands that act on the stack's state directly, with the
caller's own AWS credentials (no API key exists yet when the first one is made).

``admin create-api-key --table NAME`` creates the workspace (when the table has none) and an
API key, stores only the key's hash and prints the key once (docs/aws.md, "The first API key").
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagedeploy.cli.main import Context


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = commands.add_parser("admin", help="operator commands on an AWS stack's table")
    sub = admin.add_subparsers(dest="admin_command", required=True, metavar="SUBCOMMAND")
    create = sub.add_parser(
        "create-api-key",
        help="create an API key (and the workspace, the first time); prints the key once",
    )
    create.add_argument("--table", required=True, help="the stack's DynamoDB table name")
    create.add_argument("--owner-name", default="My Workspace", help="name of a new workspace")
    create.add_argument("--owner-email", default="owner@localhost", help="its email")
    create.add_argument("--key-name", default="admin key", help="a label for the key")
    create.set_defaults(handler=_create_api_key)


def _create_api_key(args: argparse.Namespace, ctx: Context) -> int:
    from imagedeploy.adapters.aws.dynamodb_store import DynamoStore
    from imagedeploy.domain.accounts import ApiKey, Owner, hash_key, new_secret_key
    from imagedeploy.domain.ids import new_id
    from imagedeploy.ports import Entity

    store = DynamoStore(args.table)
    owners = store.list_owners(1).items
    puts: list[Entity] = []
    if owners:
        owner = owners[0]
    else:
        owner = Owner(new_id("tea"), args.owner_name, args.owner_email)
        puts.append(owner)
    key = "rnd_" + new_secret_key(32)
    puts.append(ApiKey(new_id("rnd"), owner.id, args.key_name, hash_key(key), datetime.now(UTC)))
    store.write(put=puts)
    out = ctx.stdout
    out.write(f"workspace: {owner.id} ({owner.name}){' (created)' if not owners else ''}\n")
    out.write(f"API key (shown once, only its hash is stored): {key}\n")
    return 0
