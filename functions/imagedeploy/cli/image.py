"""``imagedeploy image parse|inspect``: image references and the registry preflight, for scripts."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from imagedeploy.domain.errors import ImagePullError, InvalidReference, PullFailureReason
from imagedeploy.domain.reference import ImageReference, parse_reference
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.registry import RegistryClient
from imagedeploy.settings import PRIVATE_NETWORKS

if TYPE_CHECKING:
    from imagedeploy.cli.main import Context

EXIT_OK = 0
EXIT_FAILED = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    image = commands.add_parser("image", help="parse and inspect image references")
    sub = image.add_subparsers(dest="image_command", required=True, metavar="SUBCOMMAND")

    parse = sub.add_parser(
        "parse", help="parse references exactly as Docker does; one JSON object per line"
    )
    parse.add_argument("refs", nargs="*", metavar="REF")
    parse.add_argument("--stdin", action="store_true", help="read one reference per line")
    parse.set_defaults(handler=_parse)

    inspect = sub.add_parser(
        "inspect",
        help="preflight an image: resolve its digest, check linux/amd64 and size (no layer pull)",
    )
    inspect.add_argument("ref", metavar="REF")
    add_credential_arguments(inspect)
    inspect.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="allow registries on loopback and private networks (never link-local)",
    )
    inspect.add_argument("--max-image-bytes", type=int, help="size limit (default 10 GB)")
    inspect.set_defaults(handler=_inspect)


def add_credential_arguments(parser: argparse.ArgumentParser) -> None:
    """A registry credential's options; ``credential_from_args`` reads them."""
    parser.add_argument(
        "--registry-kind", choices=[k.value for k in RegistryKind], help="credential kind"
    )
    parser.add_argument("--username", help="credential username")
    token = parser.add_mutually_exclusive_group()
    token.add_argument(
        "--token-stdin", action="store_true", help="read the credential token from stdin"
    )
    token.add_argument(
        "--token-env",
        metavar="VAR",
        help="read the credential token from this environment variable",
    )


def _reference_json(text: str, ref: ImageReference) -> dict[str, Any]:
    return {
        "input": text,
        "registry": ref.registry,
        "repository": ref.repository,
        "tag": ref.tag,
        "digest": ref.digest,
        "normalized": ref.normalized,
        "familiar": ref.familiar,
    }


def _parse(args: argparse.Namespace, ctx: Context) -> int:
    inputs: list[str] = list(args.refs)
    if args.stdin:
        inputs.extend(line.rstrip("\r\n") for line in ctx.stdin)
    status = EXIT_OK
    for text in inputs:
        try:
            row = _reference_json(text, parse_reference(text))
        except InvalidReference as exc:
            row = {"input": text, "error": exc.message}
            status = EXIT_FAILED
        ctx.stdout.write(json.dumps(row) + "\n")
    return status


def credential_from_args(args: argparse.Namespace, ctx: Context) -> RegistryCredential | None:
    """The credential the options give (None: none given); ``UsageError`` when incomplete."""
    if args.token_stdin:
        token = ctx.stdin.readline().rstrip("\r\n")
    elif args.token_env:
        token = os.environ.get(args.token_env, "")
        if not token:
            raise UsageError(f"environment variable {args.token_env} is empty or not set")
    else:
        token = None
    if token is None and args.username is None and args.registry_kind is None:
        return None
    if token is None or not args.username:
        raise UsageError(
            "a credential needs --username and a token (--token-stdin or --token-env VAR)"
        )
    kind = RegistryKind(args.registry_kind or RegistryKind.DOCKER)
    return RegistryCredential(kind, args.username, SecretStr(token))


class UsageError(Exception):
    """The command line is incomplete or contradictory; the message says what to add."""


def _fail(ctx: Context, error: str, message: str) -> int:
    ctx.stdout.write(json.dumps({"error": error, "message": message}) + "\n")
    return EXIT_FAILED


def _inspect(args: argparse.Namespace, ctx: Context) -> int:
    updates: dict[str, Any] = {}
    if args.allow_private_hosts:
        updates["registry_allowed_networks"] = PRIVATE_NETWORKS
    if args.max_image_bytes is not None:
        updates["max_image_bytes"] = args.max_image_bytes
    settings = ctx.settings.model_copy(update=updates)
    try:
        credential = credential_from_args(args, ctx)
        ref = parse_reference(args.ref)
    except UsageError as exc:
        return _fail(ctx, "usage", str(exc))
    except InvalidReference as exc:
        return _fail(ctx, PullFailureReason.INVALID_REFERENCE.value, exc.message)
    with RegistryClient(settings) as client:
        try:
            result = client.inspect(ref, credential)
        except ImagePullError as exc:
            return _fail(ctx, exc.reason.value, exc.message)
    ctx.stdout.write(json.dumps(result.to_json()) + "\n")
    return EXIT_OK
