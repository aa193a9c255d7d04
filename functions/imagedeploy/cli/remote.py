"""The client commands (``login``, ``services``, ``deploys``, ``rollback``, ``env``,
``credentials``, ``hook``, ``cron``, ``images``, ``logs``): named like Render's CLI, each one
call or a few to any imagedeploy API (``serve`` or the AWS stack).

Exit status: 0 done, 1 the API refused or a deploy failed (one line on stderr, with the HTTP
status), 2 a usage error (argparse)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from imagedeploy.client import log_lines, output, profiles, progress
from imagedeploy.client.api import ApiClient, ClientError
from imagedeploy.domain.registries import RegistryKind

if TYPE_CHECKING:
    from imagedeploy.cli.main import Context

Args = argparse.Namespace
Command = Callable[[ApiClient, Args, TextIO], int]

SERVICE_COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("TYPE", "type"),
    ("IMAGE", "imagePath"),
    ("SUSPENDED", "suspended"),
    ("UPDATED", "updatedAt"),
]
DEPLOY_COLUMNS = [
    ("ID", "id"),
    ("STATUS", "status"),
    ("TRIGGER", "trigger"),
    ("IMAGE", "image.ref"),
    ("DIGEST", "image.sha"),
    ("CREATED", "createdAt"),
]
ENV_COLUMNS = [("KEY", "key"), ("VALUE", "value")]
CREDENTIAL_COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("REGISTRY", "registry"),
    ("USER", "username"),
]
RUN_COLUMNS = [
    ("ID", "id"),
    ("STATUS", "status"),
    ("TRIGGER", "triggeredBy"),
    ("EXIT", "exitCode"),
    ("STARTED", "startedAt"),
    ("FINISHED", "finishedAt"),
]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", choices=output.FORMATS, default="text")
    common.add_argument("--profile", help="the login profile to use (default: default)")
    return common


def _fail(message: str) -> int:
    sys.stderr.write(f"imagedeploy: {message}\n")
    return 1


def _remote(command: Command) -> Callable[[Args, Context], int]:
    """Resolve the API from the environment or profile, run ``command``, show a failure as one
    line (the API key never appears: it is only in the client's headers)."""

    def handler(args: Args, context: Context) -> int:
        args.stdin = context.stdin  # where commands read secrets (credential tokens)
        try:
            profile = profiles.resolve(os.environ, args.profile)
            with ApiClient(profile.url, profile.api_key) as client:
                return command(client, args, context.stdout)
        except ClientError as exc:
            return _fail(str(exc))

    return handler


def _secret(prompt: str, stdin: TextIO) -> str:
    """A secret from a hidden prompt on a terminal, else the first line of stdin."""
    value = getpass.getpass(prompt) if stdin.isatty() else stdin.readline()
    value = value.strip()
    if not value:
        raise ClientError(f"no value given ({prompt.strip().rstrip(':')}); pipe it on stdin")
    return value


def _pairs(items: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ClientError(f"{item!r} is not KEY=VALUE")
        found[key] = value
    return found


# -- login ----------------------------------------------------------------------------------


def _login(args: Args, context: Context) -> int:
    try:
        key = _secret("API key: ", context.stdin)
        with ApiClient(args.url, key) as client:
            client.get("/v1/owners")  # proves the URL and the key before storing them
        name = args.profile or profiles.DEFAULT_PROFILE
        path = profiles.save_profile(os.environ, name, profiles.Profile(args.url, key))
    except ClientError as exc:
        return _fail(str(exc))
    output.emit(
        context.stdout,
        args.output,
        {"profile": name, "url": args.url, "config": str(path)},
        text=f"logged in to {args.url} (profile {name}, saved in {path})",
    )
    return 0


# -- services -------------------------------------------------------------------------------


def services_list(client: ApiClient, args: Args, out: TextIO) -> int:
    services = client.items("/v1/services", type=args.type, name=args.name)
    output.emit(out, args.output, services, SERVICE_COLUMNS)
    return 0


def services_get(client: ApiClient, args: Args, out: TextIO) -> int:
    output.emit(out, args.output, client.get(f"/v1/services/{args.service}"))
    return 0


def _details(args: Args) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for flag, name in (
        ("plan", "plan"),
        ("instances", "numInstances"),
        ("health_check_path", "healthCheckPath"),
        ("pre_deploy_command", "preDeployCommand"),
        ("schedule", "schedule"),
    ):
        if getattr(args, flag, None) is not None:
            details[name] = getattr(args, flag)
    if args.docker_command is not None:
        details["envSpecificDetails"] = {"dockerCommand": args.docker_command}
    return details


def services_create(client: ApiClient, args: Args, out: TextIO) -> int:
    owner = args.owner or client.default_owner()
    image: dict[str, Any] = {"ownerId": owner, "imagePath": args.image}
    if args.credential:
        image["registryCredentialId"] = args.credential
    body: dict[str, Any] = {
        "type": args.type,
        "name": args.name,
        "ownerId": owner,
        "image": image,
        "serviceDetails": {"runtime": "image", **_details(args)},
    }
    if args.env:
        body["envVars"] = [{"key": k, "value": v} for k, v in _pairs(args.env).items()]
    created = client.post("/v1/services", body)
    service, deploy_id = created["service"], created.get("deployId")
    # the hook URL carries the hook's key: shown by `hook regenerate` only
    shown = {k: v for k, v in created.items() if k != "deployHookUrl"}
    if not args.wait or not deploy_id:
        output.emit(out, args.output, shown, text=f"created {service['id']} (deploy {deploy_id})")
        return 0
    if args.output == "text":
        out.write(f"created {service['id']}\n")
    return _wait(client, args, out, service["id"], deploy_id, around=shown)


def services_update(client: ApiClient, args: Args, out: TextIO) -> int:
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    if args.image is not None or args.credential is not None:
        current = client.get(f"/v1/services/{args.service}")
        image = {"ownerId": current["ownerId"], "imagePath": args.image or current["imagePath"]}
        if args.credential:
            image["registryCredentialId"] = args.credential
        body["image"] = image
    if details := _details(args):
        body["serviceDetails"] = details
    if not body:
        raise ClientError("nothing to update: give at least one option (see --help)")
    output.emit(out, args.output, client.patch(f"/v1/services/{args.service}", body))
    return 0


def services_delete(client: ApiClient, args: Args, out: TextIO) -> int:
    client.delete(f"/v1/services/{args.service}")
    output.emit(out, args.output, {"deleted": args.service}, text=f"deleted {args.service}")
    return 0


def _service_action(action: str) -> Command:
    def run(client: ApiClient, args: Args, out: TextIO) -> int:
        answer = client.post(f"/v1/services/{args.service}/{action}")
        data = answer if answer is not None else {"serviceId": args.service, "action": action}
        output.emit(out, args.output, data, text=f"{action}: {args.service}")
        return 0

    return run


def services_scale(client: ApiClient, args: Args, out: TextIO) -> int:
    client.post(f"/v1/services/{args.service}/scale", {"numInstances": args.instances})
    data = {"serviceId": args.service, "numInstances": args.instances}
    output.emit(out, args.output, data, text=f"scaled {args.service} to {args.instances}")
    return 0


# -- deploys --------------------------------------------------------------------------------


def _wait(
    client: ApiClient,
    args: Args,
    out: TextIO,
    service_id: str,
    deploy_id: str,
    around: dict[str, Any] | None = None,
) -> int:
    """Follow the deploy; in json/yaml print it at the end (inside ``around`` as ``deploy``)."""
    terminal = out.isatty() and args.output == "text"
    color = terminal and not os.environ.get("NO_COLOR")
    deploy, failure = progress.watch(
        client,
        service_id,
        deploy_id,
        out,
        terminal=terminal,
        color=color,
        quiet=args.output != "text",
    )
    if args.output != "text":
        shown = {**deploy, **({"failure": failure} if failure else {})}
        output.emit(out, args.output, {**around, "deploy": shown} if around else shown)
    if failure:
        return _fail(f"deploy {deploy_id} failed: {failure}")
    if args.output == "text":
        out.write(f"deploy {deploy_id} is live\n")
    return 0


def deploys_list(client: ApiClient, args: Args, out: TextIO) -> int:
    deploys = client.items(f"/v1/services/{args.service}/deploys")
    output.emit(out, args.output, deploys, DEPLOY_COLUMNS)
    return 0


def deploys_create(client: ApiClient, args: Args, out: TextIO) -> int:
    body = {"imageUrl": args.image} if args.image else None
    deploy = client.post(f"/v1/services/{args.service}/deploys", body)
    if deploy is None:
        # Render's 202 (no body): the deploy waits behind the one in progress; it is the newest.
        [newest] = client.get(f"/v1/services/{args.service}/deploys", limit=1)
        deploy = newest["deploy"]
    if args.wait:
        return _wait(client, args, out, args.service, deploy["id"])
    output.emit(out, args.output, deploy, text=f"deploy {deploy['id']} {deploy['status']}")
    return 0


def deploys_cancel(client: ApiClient, args: Args, out: TextIO) -> int:
    deploy = client.post(f"/v1/services/{args.service}/deploys/{args.deploy}/cancel")
    output.emit(out, args.output, deploy, text=f"deploy {args.deploy} {deploy['status']}")
    return 0


def rollback(client: ApiClient, args: Args, out: TextIO) -> int:
    deploy = client.post(f"/v1/services/{args.service}/rollback", {"deployId": args.deploy})
    if args.wait:
        return _wait(client, args, out, args.service, deploy["id"])
    output.emit(out, args.output, deploy, text=f"rollback deploy {deploy['id']} {deploy['status']}")
    return 0


# -- env, credentials, hook, cron, images ---------------------------------------------------


def env_list(client: ApiClient, args: Args, out: TextIO) -> int:
    output.emit(
        out, args.output, client.items(f"/v1/services/{args.service}/env-vars"), ENV_COLUMNS
    )
    return 0


def env_set(client: ApiClient, args: Args, out: TextIO) -> int:
    pairs = _pairs(args.pairs)
    for key, value in pairs.items():
        client.put(f"/v1/services/{args.service}/env-vars/{key}", {"value": value})
    output.emit(out, args.output, {"set": list(pairs)}, text=f"set {', '.join(pairs)}")
    return 0


def env_unset(client: ApiClient, args: Args, out: TextIO) -> int:
    for key in args.keys:
        client.delete(f"/v1/services/{args.service}/env-vars/{key}")
    output.emit(out, args.output, {"unset": args.keys}, text=f"unset {', '.join(args.keys)}")
    return 0


def credentials_list(client: ApiClient, args: Args, out: TextIO) -> int:
    output.emit(out, args.output, client.items("/v1/registrycredentials"), CREDENTIAL_COLUMNS)
    return 0


def _credential_body(args: Args) -> dict[str, Any]:
    return {
        "registry": args.registry,
        "name": args.name,
        "username": args.username,
        "authToken": _secret("registry token: ", args.stdin),
    }


def credentials_create(client: ApiClient, args: Args, out: TextIO) -> int:
    body = _credential_body(args)
    body["ownerId"] = args.owner or client.default_owner()
    output.emit(out, args.output, client.post("/v1/registrycredentials", body))
    return 0


def credentials_update(client: ApiClient, args: Args, out: TextIO) -> int:
    body = _credential_body(args)
    output.emit(out, args.output, client.patch(f"/v1/registrycredentials/{args.credential}", body))
    return 0


def credentials_delete(client: ApiClient, args: Args, out: TextIO) -> int:
    client.delete(f"/v1/registrycredentials/{args.credential}")
    data = {"deleted": args.credential}
    output.emit(out, args.output, data, text=f"deleted {args.credential}")
    return 0


def hook_show(client: ApiClient, args: Args, out: TextIO) -> int:
    hook = client.get(f"/v1/services/{args.service}/deploy-hook")
    shown = {k: v for k, v in hook.items() if k != "key"}
    output.emit(out, args.output, shown)
    return 0


def hook_regenerate(client: ApiClient, args: Args, out: TextIO) -> int:
    """The one command that prints a secret: the new hook URL (with its key), shown once."""
    hook = client.post(f"/v1/services/{args.service}/deploy-hook/regenerate")
    output.emit(
        out,
        args.output,
        hook,
        text=f"{hook['url']}\n(shown once: store it now; the old hook URL no longer works)",
    )
    return 0


def cron_run(client: ApiClient, args: Args, out: TextIO) -> int:
    run = client.post(f"/v1/cron-jobs/{args.service}/runs")
    output.emit(out, args.output, run, text=f"run {run['id']} {run['status']}")
    return 0


def cron_runs(client: ApiClient, args: Args, out: TextIO) -> int:
    output.emit(out, args.output, client.items(f"/v1/cron-jobs/{args.service}/runs"), RUN_COLUMNS)
    return 0


def images_verify(client: ApiClient, args: Args, out: TextIO) -> int:
    body: dict[str, Any] = {"imageUrl": args.ref}
    if args.credential:
        body["registryCredentialId"] = args.credential
    verified = client.post("/v1/images/verify", body)
    output.emit(out, args.output, verified)
    if not verified.get("ok"):
        return _fail(f"image refused ({verified.get('problem')}): {verified.get('message')}")
    return 0


# -- the parser -----------------------------------------------------------------------------


def _group(commands: Any, name: str, help_: str) -> Any:
    return commands.add_parser(name, help=help_).add_subparsers(
        dest=f"{name}_command", required=True, metavar="ACTION"
    )


def _add(sub: Any, common: argparse.ArgumentParser, name: str, run: Command, help_: str) -> Any:
    parser = sub.add_parser(name, parents=[common], help=help_)
    parser.set_defaults(handler=_remote(run))
    return parser


def _service_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--name", required=create)
    parser.add_argument("--image", required=create, help="image reference (registry/repo:tag)")
    parser.add_argument("--credential", help="registry credential id")
    parser.add_argument("--plan")
    parser.add_argument("--instances", type=int)
    parser.add_argument("--health-check-path")
    parser.add_argument("--pre-deploy-command")
    parser.add_argument("--docker-command", help="overrides the image's CMD")
    parser.add_argument("--schedule", help="cron jobs: a cron expression (UTC)")


def register(commands: Any) -> None:
    common = _common()
    login = commands.add_parser("login", parents=[common], help="store an API URL and key")
    login.add_argument("--url", required=True, help="the API's base URL")
    login.set_defaults(handler=_login)

    services = _group(commands, "services", "web services, workers, cron jobs")
    _add(services, common, "list", services_list, "list services")
    listing = services.choices["list"]
    listing.add_argument("--type")
    listing.add_argument("--name")
    _add(services, common, "get", services_get, "show a service").add_argument("service")
    create = _add(services, common, "create", services_create, "create a service and deploy it")
    create.add_argument(
        "--type",
        required=True,
        choices=["web_service", "private_service", "background_worker", "cron_job"],
    )
    create.add_argument("--owner", help="workspace id (default: the first)")
    create.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    create.add_argument("--wait", action="store_true", help="follow the first deploy")
    _service_options(create, create=True)
    update = _add(services, common, "update", services_update, "change a service (no deploy)")
    update.add_argument("service")
    _service_options(update, create=False)
    _add(services, common, "delete", services_delete, "delete a service").add_argument("service")
    for action in ("suspend", "resume", "restart"):
        _add(services, common, action, _service_action(action), f"{action} a service").add_argument(
            "service"
        )
    scale = _add(services, common, "scale", services_scale, "set the number of instances")
    scale.add_argument("service")
    scale.add_argument("--instances", type=int, required=True)

    deploys = _group(commands, "deploys", "a service's deploys")
    _add(deploys, common, "list", deploys_list, "list deploys").add_argument("service")
    trigger = _add(deploys, common, "create", deploys_create, "deploy the service's image again")
    trigger.add_argument("service")
    trigger.add_argument("--image", help="deploy this tag or digest of the service's image once")
    trigger.add_argument("--wait", action="store_true", help="follow the deploy until it ends")
    cancel = _add(deploys, common, "cancel", deploys_cancel, "cancel a running deploy")
    cancel.add_argument("service")
    cancel.add_argument("deploy")

    back = commands.add_parser("rollback", parents=[common], help="roll back to an earlier deploy")
    back.add_argument("service")
    back.add_argument("deploy")
    back.add_argument("--wait", action="store_true")
    back.set_defaults(handler=_remote(rollback))

    env = _group(commands, "env", "a service's environment variables")
    _add(env, common, "list", env_list, "list env vars").add_argument("service")
    setting = _add(env, common, "set", env_set, "set env vars (no deploy)")
    setting.add_argument("service")
    setting.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    unset = _add(env, common, "unset", env_unset, "remove env vars")
    unset.add_argument("service")
    unset.add_argument("keys", nargs="+", metavar="KEY")

    creds = _group(commands, "credentials", "registry credentials (token read from stdin)")
    _add(creds, common, "list", credentials_list, "list credentials")
    for action, run in (("create", credentials_create), ("update", credentials_update)):
        parser = _add(creds, common, action, run, f"{action} a credential")
        if action == "update":
            parser.add_argument("credential")
        else:
            parser.add_argument("--owner")
        parser.add_argument("--name", required=True)
        parser.add_argument("--registry", required=True, choices=[k.value for k in RegistryKind])
        parser.add_argument("--username", required=True)
    _add(creds, common, "delete", credentials_delete, "delete a credential").add_argument(
        "credential"
    )

    hook = _group(commands, "hook", "a service's deploy hook")
    _add(hook, common, "show", hook_show, "the hook URL (without its key)").add_argument("service")
    _add(hook, common, "regenerate", hook_regenerate, "new key; prints the URL once").add_argument(
        "service"
    )

    cron = _group(commands, "cron", "cron job runs")
    _add(cron, common, "run", cron_run, "run a cron job now").add_argument("service")
    _add(cron, common, "runs", cron_runs, "list a cron job's runs").add_argument("service")

    logs = commands.add_parser("logs", parents=[common], help="a service's log lines")
    logs.add_argument("service")
    logs.add_argument("--since", help="from this long ago (90s, 10m, 2h, 1d) or time (RFC 3339)")
    logs.add_argument("--text", action="append", help="only lines containing this (or /regex/)")
    logs.add_argument("--limit", type=int, default=100, help="lines without --since (1-100)")
    logs.add_argument("--tail", action="store_true", help="keep printing new lines (Ctrl-C ends)")
    logs.set_defaults(handler=_remote(log_lines.logs))

    images = _group(commands, "images", "images")
    verify = _add(images, common, "verify", images_verify, "preflight an image reference")
    verify.add_argument("ref")
    verify.add_argument("--credential")
