"""``imagedeploy keys create|list|revoke``: the API keys of a ``serve`` data directory, on the
machine that runs it (no API key needed: access to the data directory is the credential). Works
while ``serve`` runs: both use the same SQLite file, each write a short transaction."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from imagedeploy.cli.serve import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from imagedeploy.adapters.local.sqlite_store import SqliteStore
    from imagedeploy.cli.main import Context

EXIT_OK = 0
EXIT_FAILED = 2
STATE_FILE = "state.db"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke the API keys of serve")
    keys.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="serve's data directory"
    )
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="SUBCOMMAND")
    create = sub.add_parser("create", help="create a key; prints it once")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.set_defaults(handler=_create)
    listing = sub.add_parser("list", help="list keys: id, name, created, last used")
    listing.set_defaults(handler=_list)
    revoke = sub.add_parser("revoke", help="revoke a key (requests with it fail from now on)")
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(handler=_revoke)


class _Refused(Exception):
    pass


def _open(data_dir: Path) -> tuple[SqliteStore, str]:
    """The data directory's store and its workspace id; refuses one ``serve`` never used."""
    from imagedeploy.adapters.local.sqlite_store import SqliteStore

    if not (data_dir / STATE_FILE).is_file():
        raise _Refused(
            f"{data_dir} holds no imagedeploy state: start `imagedeploy serve --data-dir "
            f"{data_dir}` once (it creates the workspace and its first key), or pass the "
            "--data-dir serve uses"
        )
    store = SqliteStore(data_dir / STATE_FILE)
    owners = store.list_owners(1).items
    if not owners:
        store.close()
        raise _Refused(f"{data_dir} has no workspace yet: start `imagedeploy serve` once")
    return store, owners[0].id


def _run(args: argparse.Namespace, ctx: Context, action: str) -> int:
    from imagedeploy.domain.errors import ImagedeployError
    from imagedeploy.embedded import SystemClock
    from imagedeploy.usecases import api_keys

    try:
        store, owner_id = _open(args.data_dir)
    except (_Refused, PermissionError) as exc:
        sys.stderr.write(f"imagedeploy keys: {exc}\n")
        return EXIT_FAILED
    out = ctx.stdout
    try:
        if action == "create":
            key, secret = api_keys.create_key(store, SystemClock(), owner_id, args.name)
            out.write(f"created API key {key.id} ({key.name}) of workspace {owner_id}\n")
            out.write(f"API key (shown once, only its hash is stored): {secret}\n")
        elif action == "list":
            out.write("ID\tNAME\tCREATED\tLAST USED\n")
            cursor: str | None = None
            while True:
                page = api_keys.list_keys(store, owner_id, 100, cursor)
                for key in page.items:
                    used = key.last_used_at.isoformat() if key.last_used_at else "never"
                    out.write(f"{key.id}\t{key.name}\t{key.created_at.isoformat()}\t{used}\n")
                cursor = page.next_cursor
                if cursor is None:
                    break
        else:
            key = api_keys.revoke_key(store, owner_id, args.key_id, keep_last=False)
            out.write(f"revoked API key {key.id} ({key.name})\n")
            if not api_keys.list_keys(store, owner_id, 1, None).items:
                out.write("the workspace has no API key left: create one with `keys create`\n")
    except ImagedeployError as exc:
        sys.stderr.write(f"imagedeploy keys: {exc.message}\n")
        return EXIT_FAILED
    finally:
        store.close()
    return EXIT_OK


def _create(args: argparse.Namespace, ctx: Context) -> int:
    return _run(args, ctx, "create")


def _list(args: argparse.Namespace, ctx: Context) -> int:
    return _run(args, ctx, "list")


def _revoke(args: argparse.Namespace, ctx: Context) -> int:
    return _run(args, ctx, "revoke")
