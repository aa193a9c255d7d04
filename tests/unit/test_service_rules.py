"""Service settings rules: create defaults, every rule accepted and refused (with an actionable
message), PATCH semantics, env vars and the port, commands, the platform environment, slugs."""

from __future__ import annotations

import dataclasses
import re
import shlex
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagedeploy.domain.errors import InvalidInput, NotFound
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.service_rules import (
    PLATFORM_VARIABLES,
    ServiceChanges,
    ServiceSpec,
    delete_env_var,
    internal_address,
    platform_env,
    replace_env_vars,
    runtime_env,
    set_env_var,
    slugify,
    split_command,
    unique_slug,
    validate_create,
    validate_update,
)
from imagedeploy.domain.services import EnvVar, Plan, Region, Service, ServiceType

pytestmark = pytest.mark.unit

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2025, 5, 2, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64
CREDENTIAL = "rgc-" + "0123456789abcdefghij"

WEB, PRIVATE, WORKER, CRON = (
    ServiceType.WEB_SERVICE,
    ServiceType.PRIVATE_SERVICE,
    ServiceType.BACKGROUND_WORKER,
    ServiceType.CRON_JOB,
)


def create(kind: ServiceType | str = WEB, **settings: Any) -> ServiceSpec:
    settings.setdefault("name", "my-api")
    settings.setdefault("image_path", "nginx:1.27")
    if kind == CRON:
        settings.setdefault("schedule", "*/10 * * * *")
    return validate_create(kind, **settings)


def refused(kind: ServiceType | str = WEB, **settings: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        create(kind, **settings)
    return caught.value.message


def service(kind: ServiceType = WEB, **settings: Any) -> Service:
    spec = create(kind, **settings)
    return spec.to_service(
        id=new_id(kind.id_prefix), owner_id=new_id("tea"), hook_key_hash="0" * 64, now=NOW
    )


# --- create: defaults and what is stored ---


@pytest.mark.parametrize("kind", list(ServiceType))
def test_create_fills_in_renders_defaults(kind: ServiceType) -> None:
    spec = create(kind)
    assert spec.type is kind
    assert spec.plan is Plan.STARTER
    assert spec.region is Region.OREGON
    assert spec.num_instances == 1
    assert spec.max_shutdown_delay_seconds == 30
    assert spec.port == 10000
    assert spec.docker_command == spec.pre_deploy_command == spec.health_check_path == ""
    assert spec.credential_id is None
    assert spec.env_vars == ()
    assert spec.schedule == ("*/10 * * * *" if kind is CRON else "")


def test_create_keeps_every_valid_setting() -> None:
    spec = create(
        "web_service",
        name="  My API (v2) ",
        image_path="https://ghcr.io/acme/api:1.4",
        credential_id=CREDENTIAL,
        env_vars=[EnvVar("DATABASE_URL", "postgres://db/app"), EnvVar("PORT", "8080")],
        plan="pro",
        region="frankfurt",
        num_instances=3,
        docker_command="  gunicorn -b 0.0.0.0:8080 app:app ",
        pre_deploy_command="python manage.py migrate",
        health_check_path="/healthz",
        max_shutdown_delay_seconds=120,
    )
    assert spec == ServiceSpec(
        type=WEB,
        name="My API (v2)",
        slug="my-api-v2",
        image_path="ghcr.io/acme/api:1.4",
        credential_id=CREDENTIAL,
        plan=Plan.PRO,
        region=Region.FRANKFURT,
        num_instances=3,
        docker_command="gunicorn -b 0.0.0.0:8080 app:app",
        pre_deploy_command="python manage.py migrate",
        health_check_path="/healthz",
        port=8080,
        max_shutdown_delay_seconds=120,
        schedule="",
        env_vars=(EnvVar("DATABASE_URL", "postgres://db/app"), EnvVar("PORT", "8080")),
    )


def test_to_service_builds_a_fresh_entity() -> None:
    spec = create(WORKER, plan=Plan.STANDARD)
    entity = spec.to_service(
        id="srv-0123456789abcdefghij", owner_id="tea-x", hook_key_hash="h", now=NOW, slug="x-1"
    )
    assert entity.slug == "x-1"
    assert (entity.type, entity.plan, entity.image_path) == (WORKER, Plan.STANDARD, spec.image_path)
    assert (entity.created_at, entity.updated_at, entity.version) == (NOW, NOW, 0)
    assert entity.live_deploy_id is None and not entity.suspended
    assert spec.image.name == "docker.io/library/nginx"


# --- create: the image path ---


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("index.docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("https://ghcr.io/acme/api:1", "ghcr.io/acme/api:1"),
        ("http://localhost:5000/app", "localhost:5000/app:latest"),
        ("HTTPS://ghcr.io/acme/api:1", "ghcr.io/acme/api:1"),
        (f"ghcr.io/acme/api@{DIGEST}", f"ghcr.io/acme/api@{DIGEST}"),
        (f"ghcr.io/acme/api:1@{DIGEST}", f"ghcr.io/acme/api:1@{DIGEST}"),
    ],
)
def test_image_path_is_parsed_and_stored_normalized(given: str, stored: str) -> None:
    assert create(image_path=given).image_path == stored


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "empty"),
        ("NGINX:1.27", "must be lowercase"),
        ("nginx@1.24", "write tags after ':'"),
        ("ftp://nginx", "not a URL"),
        ("https://", "empty"),
        ("nginx:1.27 ", "whitespace"),
        ("a" * 64, "sha256:"),
    ],
)
def test_image_path_refused_says_why(given: str, says: str) -> None:
    message = refused(image_path=given)
    assert message.startswith("imagePath is not an image reference")
    assert says in message
    assert "docker.io/library/nginx:1.27" in message  # an example of a good one


# --- create: settings that apply to some types only ---


@pytest.mark.parametrize(
    ("kind", "setting", "value", "says"),
    [
        (CRON, "num_instances", 2, "numInstances applies only to web_service, private_service and"),
        (CRON, "pre_deploy_command", "migrate", "preDeployCommand applies only to"),
        (CRON, "max_shutdown_delay_seconds", 60, "maxShutdownDelaySeconds applies only to"),
        (CRON, "health_check_path", "/", "healthCheckPath applies only to web_service"),
        (PRIVATE, "health_check_path", "/", "healthCheckPath applies only to web_service"),
        (WORKER, "health_check_path", "/", "not to a background_worker"),
        (WEB, "schedule", "* * * * *", "schedule applies only to cron_job, not to a web_service"),
        (WORKER, "schedule", "* * * * *", "schedule applies only to cron_job"),
        (WORKER, "port", 8080, "port applies only to web_service and private_service"),
        (CRON, "port", 8080, "port applies only to web_service and private_service"),
    ],
)
def test_settings_for_other_types_are_refused(
    kind: ServiceType, setting: str, value: object, says: str
) -> None:
    message = refused(kind, **{setting: value})
    assert says in message
    assert message.endswith("remove it")


@pytest.mark.parametrize(
    ("kind", "setting", "value"),
    [
        (WEB, "health_check_path", "/healthz"),
        (PRIVATE, "num_instances", 5),
        (WORKER, "pre_deploy_command", "./migrate"),
        (WORKER, "max_shutdown_delay_seconds", 300),
        (PRIVATE, "port", 5432),
        (CRON, "docker_command", "python job.py"),
        (CRON, "plan", "pro_max"),
        (CRON, "region", "singapore"),
    ],
)
def test_settings_for_their_own_types_are_accepted(
    kind: ServiceType, setting: str, value: object
) -> None:
    create(kind, **{setting: value})


def test_a_cron_job_needs_a_schedule() -> None:
    message = refused(CRON, schedule=None)
    assert "schedule is required for a cron_job" in message
    assert "*/10 * * * *" in message


def test_a_cron_schedule_is_validated_and_normalized() -> None:
    assert create(CRON, schedule="0  3 * * mon-fri").schedule == "0 3 * * MON-FRI"
    assert "6 fields" in refused(CRON, schedule="0 0 3 * * *")


# --- create: type, name, credential, plan, region ---


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("static_site", "static sites are built from a repository"),
        ("web", "is not a service type: use one of web_service, private_service"),
        ("", "is not a service type"),
    ],
)
def test_unknown_types_are_refused(given: str, says: str) -> None:
    assert says in refused(given)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("api", "api"), ("  api  ", "api"), ("x" * 100, "x" * 100), ("Café", "Café")],
)
def test_names_accepted(given: str, stored: str) -> None:
    assert create(name=given).name == stored


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "name is empty"),
        ("   ", "name is empty"),
        ("x" * 101, "101 characters long: use at most 100"),
        ("a\nb", "U+000A"),
        ("a\u200bb", "U+200B"),
    ],
)
def test_names_refused(given: str, says: str) -> None:
    assert says in refused(name=given)


def test_credential_ids() -> None:
    assert create(credential_id=CREDENTIAL).credential_id == CREDENTIAL
    assert create(credential_id="").credential_id is None
    message = refused(credential_id="srv-0123456789abcdefghij")
    assert "is not a registry credential id" in message
    assert "GET /v1/registrycredentials" in message


@pytest.mark.parametrize("plan", list(Plan))
def test_every_plan_of_ours_is_accepted(plan: Plan) -> None:
    assert create(plan=plan.value).plan is plan


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("free", "there is no free instance type here"),
        ("starter_plus", "a Render instance type that is not offered here"),
        ("standard_plus", "a Render instance type that is not offered here"),
        ("custom", "a Render instance type that is not offered here"),
        ("Starter", "is not available"),
    ],
)
def test_other_plans_are_refused_with_the_list(given: str, says: str) -> None:
    message = refused(plan=given)
    assert says in message
    for plan in Plan:
        assert plan.value in message
    assert "starter (0.5 CPU, 512 MB)" in message
    assert "pro_ultra (8 CPU, 32 GB)" in message


def test_regions() -> None:
    for region in Region:
        assert create(region=region.value).region is region
    message = refused(region="us-east-1")
    assert "region 'us-east-1' is not a region" in message
    assert "oregon, ohio, virginia, frankfurt, singapore" in message


# --- create: numbers ---


@pytest.mark.parametrize("value", [1, 2, 100])
def test_num_instances_accepted(value: int) -> None:
    assert create(num_instances=value).num_instances == value


@pytest.mark.parametrize("value", [0, -1, 101, True, "3", 1.5])
def test_num_instances_refused(value: object) -> None:
    assert "numInstances is" in refused(num_instances=value)
    assert "a whole number from 1 to 100" in refused(num_instances=value)


@pytest.mark.parametrize("value", [1, 30, 300])
def test_shutdown_delay_accepted(value: int) -> None:
    assert create(max_shutdown_delay_seconds=value).max_shutdown_delay_seconds == value


@pytest.mark.parametrize("value", [0, 301, -5, False])
def test_shutdown_delay_refused(value: object) -> None:
    assert "from 1 to 300 (seconds)" in refused(max_shutdown_delay_seconds=value)


# --- create: health check path ---


@pytest.mark.parametrize("path", ["", "/", "/healthz", "/api/v1/health?full=1", "/a%20b", "/~x"])
def test_health_check_paths_accepted(path: str) -> None:
    assert create(health_check_path=path).health_check_path == path


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("healthz", "must start with '/'"),
        ("http://x/healthz", "must start with '/'"),
        ("/a b", "percent-encode"),
        ("/a#top", "#fragment"),
        ("/é", "percent-encode"),
        ("/" + "a" * 1024, "use at most 1024"),
    ],
)
def test_health_check_paths_refused(path: str, says: str) -> None:
    assert says in refused(health_check_path=path)


# --- create: commands ---


def test_commands_are_checked_and_trimmed() -> None:
    spec = create(docker_command=" sh -c 'echo hi && sleep 1' ", pre_deploy_command="./m")
    assert spec.docker_command == "sh -c 'echo hi && sleep 1'"
    assert spec.pre_deploy_command == "./m"


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("docker_command", "sh -c 'echo hi", "dockerCommand: command"),
        ("docker_command", "echo \"it's", "No closing quotation"),
        ("pre_deploy_command", "migrate \\", "preDeployCommand: command"),
        ("docker_command", "x" * 8193, "use at most 8192"),
        ("docker_command", "a\x00b", "NUL"),
    ],
)
def test_commands_refused(setting: str, value: str, says: str) -> None:
    assert says in refused(**{setting: value})


# --- create: env vars and the port ---


@pytest.mark.parametrize(
    "key", ["A", "_", "DATABASE_URL", "lower_case", "A1", "_9", "RENDER_API_KEY", "X" * 255]
)
def test_env_keys_accepted(key: str) -> None:
    assert create(env_vars=[EnvVar(key, "v")]).env_vars == (EnvVar(key, "v"),)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "is not a valid name"),
        ("1A", "not starting with a digit"),
        ("A-B", "is not a valid name"),
        ("A B", "is not a valid name"),
        ("CAFÉ", "is not a valid name"),
        ("A=B", "is not a valid name"),
        ("X" * 256, "256 characters long: use at most 255"),
    ],
)
def test_env_keys_refused(key: str, says: str) -> None:
    assert says in refused(env_vars=[EnvVar(key, "v")])


@pytest.mark.parametrize("key", sorted(PLATFORM_VARIABLES))
def test_platform_variables_cannot_be_set(key: str) -> None:
    message = refused(env_vars=[EnvVar(key, "x")])
    assert f"env var {key} is set by the platform" in message
    assert "use another name" in message


def test_env_key_given_twice_is_refused() -> None:
    message = refused(env_vars=[EnvVar("A", "1"), EnvVar("B", "2"), EnvVar("A", "3")])
    assert "env var A is given more than once" in message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("a\x00b", "NUL character"),
        ("\ud800", "unpaired surrogate"),
        ("x" * (16 * 1024 + 1), "longer than 16 KiB"),
        ("é" * (8 * 1024 + 1), "longer than 16 KiB"),  # counted in UTF-8 bytes
    ],
)
def test_env_values_refused(value: str, says: str) -> None:
    assert says in refused(env_vars=[EnvVar("A", value)])


def test_env_values_may_hold_newlines_and_unicode() -> None:
    pem = "-----BEGIN KEY-----\nabc=\n-----END KEY-----\n"
    assert create(env_vars=[EnvVar("KEY", pem), EnvVar("E", "é✓")]).env_vars[0].value == pem


def test_env_vars_together_are_bounded() -> None:
    variables = [EnvVar(f"K{i}", "x" * 10_000) for i in range(4)]
    assert "at most 32 KiB of keys and values" in refused(env_vars=variables)


@pytest.mark.parametrize("kind", [WEB, PRIVATE])
@pytest.mark.parametrize("value", ["1", "8080", "65535"])
def test_a_port_env_var_is_the_port(kind: ServiceType, value: str) -> None:
    spec = create(kind, env_vars=[EnvVar("PORT", value)])
    assert spec.port == int(value)
    assert spec.env_vars == (EnvVar("PORT", value),)


@pytest.mark.parametrize("value", ["0", "65536", "http", "", " 8080", "08080", "80.0", "٨٠"])
def test_a_port_env_var_must_be_a_port(value: str) -> None:
    message = refused(env_vars=[EnvVar("PORT", value)])
    assert "the PORT env var is" in message
    assert "a number from 1 to 65535" in message
    assert "remove it to use the default" in message


def test_the_port_setting_writes_the_port_env_var() -> None:
    spec = create(port=3000, env_vars=[EnvVar("A", "1")])
    assert spec.port == 3000
    assert spec.env_vars == (EnvVar("A", "1"), EnvVar("PORT", "3000"))
    assert create(port=3000, env_vars=[EnvVar("PORT", "3000")]).env_vars == (
        EnvVar("PORT", "3000"),
    )


def test_port_setting_and_env_var_must_agree() -> None:
    message = refused(port=3000, env_vars=[EnvVar("PORT", "3001")])
    assert "port is 3000 but the PORT env var is '3001'" in message
    assert "give only one of them" in message


@pytest.mark.parametrize("value", [0, 65536, True])
def test_port_setting_range(value: object) -> None:
    assert "port is" in refused(port=value)


@pytest.mark.parametrize("kind", [WORKER, CRON])
def test_port_is_an_ordinary_variable_for_workers_and_cron_jobs(kind: ServiceType) -> None:
    spec = create(kind, env_vars=[EnvVar("PORT", "not a number")])
    assert spec.port == 10000
    assert spec.env_vars == (EnvVar("PORT", "not a number"),)


def test_every_problem_is_reported_at_once() -> None:
    message = refused(
        CRON,
        name="",
        image_path="NGINX",
        plan="free",
        num_instances=3,
        schedule="* * * * * *",
        env_vars=[EnvVar("RENDER", "1")],
    )
    for says in (
        "name is empty",
        "imagePath",
        "plan 'free'",
        "numInstances applies only",
        "6 fields",
        "env var RENDER",
    ):
        assert says in message


# --- update (PATCH) ---


def test_update_changes_only_what_is_given() -> None:
    before = dataclasses.replace(service(WEB, health_check_path="/h"), version=7)
    after = validate_update(before, ServiceChanges(name="Renamed API", plan="standard"))
    assert (after.name, after.plan) == ("Renamed API", Plan.STANDARD)
    assert after.slug == before.slug  # the URL does not move
    assert after.version == 7
    assert after.updated_at == before.updated_at
    assert dataclasses.replace(after, name=before.name, plan=before.plan) == before


def test_update_with_nothing_given_is_the_same_service() -> None:
    before = service(PRIVATE)
    assert validate_update(before, ServiceChanges()) == before
    assert validate_update(before, ServiceChanges(), now=LATER).updated_at == LATER


def test_update_reparses_the_image() -> None:
    before = service()
    after = validate_update(before, ServiceChanges(image_path="https://ghcr.io/acme/api"))
    assert after.image_path == "ghcr.io/acme/api:latest"
    with pytest.raises(InvalidInput, match="imagePath is not an image reference"):
        validate_update(before, ServiceChanges(image_path="ghcr.io/Acme/api"))


def test_update_can_clear_settings() -> None:
    before = service(WEB, credential_id=CREDENTIAL, docker_command="a b", health_check_path="/h")
    after = validate_update(
        before, ServiceChanges(credential_id=None, docker_command="", health_check_path="")
    )
    assert (after.credential_id, after.docker_command, after.health_check_path) == (None, "", "")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (ServiceChanges(type="private_service"), "type cannot change (this service is a web"),
        (ServiceChanges(region="ohio"), "region cannot change (this service runs in oregon)"),
        (ServiceChanges(region="mars"), "region 'mars' is not a region"),
        (ServiceChanges(plan="free"), "no free instance type"),
        (ServiceChanges(num_instances=0), "numInstances is 0"),
        (ServiceChanges(schedule="* * * * *"), "schedule applies only to cron_job"),
        (ServiceChanges(health_check_path="x"), "must start with '/'"),
        (ServiceChanges(port=70000), "port is 70000"),
        (ServiceChanges(name=" "), "name is empty"),
        (ServiceChanges(env_vars=[EnvVar("RENDER_SERVICE_ID", "x")]), "set by the platform"),
    ],
)
def test_update_refusals(changes: ServiceChanges, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_update(service(WEB), changes)
    assert says in caught.value.message


def test_update_accepts_the_current_type_and_region() -> None:
    before = service(WEB)
    assert validate_update(before, ServiceChanges(type=WEB, region="oregon")) == before


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (ServiceChanges(num_instances=2), "numInstances applies only"),
        (ServiceChanges(pre_deploy_command="x"), "preDeployCommand applies only"),
        (ServiceChanges(max_shutdown_delay_seconds=10), "maxShutdownDelaySeconds applies only"),
        (ServiceChanges(schedule="61 * * * *"), "the minute field '61' is invalid"),
        (ServiceChanges(port=8080), "port applies only"),
    ],
)
def test_update_refusals_for_a_cron_job(changes: ServiceChanges, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_update(service(CRON), changes)
    assert says in caught.value.message


def test_update_a_cron_schedule() -> None:
    after = validate_update(service(CRON), ServiceChanges(schedule="@hourly"))
    assert after.schedule == "0 * * * *"


def test_update_port_rewrites_the_port_env_var_in_place() -> None:
    before = service(WEB, env_vars=[EnvVar("PORT", "8080"), EnvVar("A", "1")])
    after = validate_update(before, ServiceChanges(port=9000))
    assert after.port == 9000
    assert after.env_vars == (EnvVar("PORT", "9000"), EnvVar("A", "1"))


def test_update_env_vars_without_port_returns_to_the_default_port() -> None:
    before = service(PRIVATE, env_vars=[EnvVar("PORT", "5432")])
    after = validate_update(before, ServiceChanges(env_vars=[EnvVar("B", "2")]))
    assert (after.port, after.env_vars) == (10000, (EnvVar("B", "2"),))


# --- the env-var endpoints ---


def test_set_env_var_adds_or_replaces_in_place() -> None:
    before = service(WEB, env_vars=[EnvVar("A", "1"), EnvVar("B", "2")])
    assert set_env_var(before, "A", "9").env_vars == (EnvVar("A", "9"), EnvVar("B", "2"))
    assert set_env_var(before, "C", "3").env_vars[-1] == EnvVar("C", "3")
    assert set_env_var(before, "PORT", "7000", now=LATER).port == 7000
    with pytest.raises(InvalidInput, match="set by the platform"):
        set_env_var(before, "RENDER", "false")


def test_delete_env_var() -> None:
    before = service(WEB, env_vars=[EnvVar("A", "1"), EnvVar("PORT", "7000")])
    assert delete_env_var(before, "A").env_vars == (EnvVar("PORT", "7000"),)
    assert delete_env_var(before, "PORT").port == 10000
    with pytest.raises(NotFound, match=r"no env var 'a' \(keys are case-sensitive\)"):
        delete_env_var(before, "a")


def test_replace_env_vars() -> None:
    before = service(WEB, env_vars=[EnvVar("A", "1")])
    after = replace_env_vars(before, [EnvVar("PORT", "3000")], now=LATER)
    assert (after.env_vars, after.port, after.updated_at) == (
        (EnvVar("PORT", "3000"),),
        3000,
        LATER,
    )


# --- split_command ---


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("", ()),
        ("   ", ()),
        ("nginx -g 'daemon off;'", ("nginx", "-g", "daemon off;")),
        ('sh -c "echo $HOME && ls"', ("sh", "-c", "echo $HOME && ls")),
        ("echo a\\ b", ("echo", "a b")),
        ("echo 'it'\\''s'", ("echo", "it's")),
        ('echo "it\'s"', ("echo", "it's")),
        ("a|b > c", ("a|b", ">", "c")),  # no shell: operators are plain words
        ("python -m app # not a comment", ("python", "-m", "app", "#", "not", "a", "comment")),
        ("a\n b\tc", ("a", "b", "c")),
        ("''", ("",)),
    ],
)
def test_split_command(text: str, argv: tuple[str, ...]) -> None:
    assert split_command(text) == argv


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("sh -c 'echo", "No closing quotation"),
        ('echo "a', "close every quote you open"),
        ("echo a\\", "ends with a backslash that escapes nothing"),
        ("a\x00", "NUL character"),
    ],
)
def test_split_command_refusals(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        split_command(text)
    assert says in caught.value.message


@given(st.lists(st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))))
def test_split_command_round_trips_shlex_join(argv: list[str]) -> None:
    assert split_command(shlex.join(argv)) == tuple(argv)


# --- the platform environment ---


@pytest.mark.parametrize(
    ("kind", "render_type", "has_port"),
    [
        (WEB, "web", True),
        (PRIVATE, "pserv", True),
        (WORKER, "worker", False),
        (CRON, "cron", False),
    ],
)
def test_platform_env(kind: ServiceType, render_type: str, has_port: bool) -> None:
    entity = service(kind, name="Billing", plan="standard")
    env = platform_env(entity, "dep-0123456789abcdefghij")
    expected = {
        "RENDER": "true",
        "RENDER_SERVICE_ID": entity.id,
        "RENDER_SERVICE_NAME": "Billing",
        "RENDER_SERVICE_TYPE": render_type,
        "RENDER_CPU_COUNT": "1",
        "RENDER_DEPLOY_ID": "dep-0123456789abcdefghij",
    }
    if has_port:
        expected["PORT"] = "10000"
    assert env == expected
    assert set(env) - {"PORT"} <= PLATFORM_VARIABLES


def test_platform_env_optional_parts() -> None:
    web = service(WEB, plan="starter")
    env = platform_env(web, "dep-1", instance_id="i-1", external_url="https://api.example.com")
    assert env["RENDER_CPU_COUNT"] == "0.5"
    assert env["RENDER_INSTANCE_ID"] == "i-1"
    assert env["RENDER_EXTERNAL_URL"] == "https://api.example.com"
    assert env["RENDER_EXTERNAL_HOSTNAME"] == "api.example.com"
    worker = platform_env(service(WORKER), "dep-1", external_url="https://x.example.com")
    assert "RENDER_EXTERNAL_URL" not in worker


def test_runtime_env_overlays_platform_variables_and_keeps_a_user_port() -> None:
    web = service(WEB, name="api", env_vars=[EnvVar("PORT", "8080"), EnvVar("A", "1")])
    env = runtime_env(web, "dep-1")
    assert env["PORT"] == "8080"
    assert env["A"] == "1"
    assert env["RENDER_SERVICE_NAME"] == "api"
    # Even a variable stored before the rule existed cannot shadow the platform's.
    legacy = dataclasses.replace(web, env_vars=(EnvVar("RENDER_SERVICE_ID", "spoof"),))
    assert runtime_env(legacy, "dep-1")["RENDER_SERVICE_ID"] == web.id
    worker = service(WORKER, env_vars=[EnvVar("PORT", "whatever")])
    assert runtime_env(worker, "dep-1")["PORT"] == "whatever"


# --- slugs and addresses ---

_DNS_LABEL = re.compile(r"\A[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("my-api", "my-api"),
        ("My API (v2)", "my-api-v2"),
        ("  --Hello__World--  ", "hello-world"),
        ("Café Crème", "cafe-creme"),
        ("🚀", "service"),
        ("", "service"),
        ("a" * 80, "a" * 50),
        ("a" * 49 + " b", "a" * 49),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@given(st.text())
def test_slugs_are_dns_labels(name: str) -> None:
    slug = slugify(name)
    assert _DNS_LABEL.match(slug)
    assert len(slug) <= 50
    assert _DNS_LABEL.match(unique_slug(slug, new_id("srv")))
    assert len(unique_slug(slug, new_id("srv"))) <= 63


def test_unique_slug_uses_the_end_of_the_id() -> None:
    assert unique_slug("api", "srv-0123456789abcdefghij") == "api-ghij"


def test_addresses() -> None:
    web = service(WEB, name="My API", env_vars=[EnvVar("PORT", "8080")])
    assert internal_address(web) == "my-api:8080"
    assert internal_address(service(PRIVATE, name="db")) == "db:10000"
    assert internal_address(service(WORKER)) is None
