"""Request counts, caching, token refresh, retries under injected faults, the rollback
exists-check and the SSRF guard, against the real registry through a counting proxy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.fault_proxy import Fault, FaultProxy
from devkit.images import ImagePusher, StandardImages
from devkit.registry import RunningRegistry, TokenAuth, start_registry
from devkit.registry_client import credential_for
from devkit.sockets import Tarpit
from devkit.token_server import TokenServer
from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.reference import parse_reference
from imagedeploy.registry import RegistryClient

pytestmark = pytest.mark.integration

ProxyFactory = Callable[[RunningRegistry], FaultProxy]


class ManualClock:
    """Monotonic clock the test advances, to expire tokens without sleeping."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def test_cold_and_warm_request_counts_on_a_token_registry(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(token_registry)
    multi = test_images.demo.multi
    ref = parse_reference(multi.ref_on(proxy.host))
    cred = credential_for(token_registry.credentials)
    client = make_client()

    cold = client.inspect(ref, cred)
    # challenge (401), token, index, linux/amd64 manifest: the budget of 4
    # (docs/architecture.md §16)
    assert [(r.method, r.status) for r in proxy.requests] == [
        ("GET", 401),
        ("GET", 200),
        ("GET", 200),
    ]
    assert token_server.count == 1

    proxy.reset()
    warm = client.inspect(ref, cred)
    assert warm == cold
    assert [(r.method, r.status, r.auth_scheme) for r in proxy.requests] == [
        ("HEAD", 200, "Bearer")
    ]
    assert token_server.count == 1


def test_single_arch_reads_the_config_blob_once(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(token_registry)
    ref = parse_reference(test_images.demo.oci.ref_on(proxy.host))
    client = make_client()
    client.inspect(ref, credential_for(token_registry.credentials))
    assert proxy.count("GET", r"/blobs/sha256:") == 1
    proxy.reset()
    client.inspect(ref, credential_for(token_registry.credentials))
    assert [r.method for r in proxy.requests] == ["HEAD"]


def test_a_moved_tag_is_seen_on_the_next_resolve(
    token_registry: RunningRegistry,
    image_pusher: ImagePusher,
    make_client: Callable[..., RegistryClient],
) -> None:
    repo = f"scratch/{uuid.uuid4().hex[:12]}"
    first = image_pusher.push_docker_image(repo, "stable", "one")
    ref = parse_reference(f"{token_registry.host}/{repo}:stable")
    cred = credential_for(token_registry.credentials)
    client = make_client()
    assert client.inspect(ref, cred).digest == first.digest
    second = image_pusher.push_oci_index(repo, "stable", "two")
    assert client.inspect(ref, cred).digest == second.digest != first.digest


def test_tokens_are_cached_per_scope_and_refreshed_before_expiry(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    token_server.expires_in = 300
    proxy = fault_proxy(token_registry)
    clock = ManualClock()
    client = make_client(client_kwargs={"clock": clock})
    cred = credential_for(token_registry.credentials)
    web = parse_reference(test_images.demo.web_v1.ref_on(proxy.host))
    web2 = parse_reference(test_images.demo.web_v2.ref_on(proxy.host))
    oci = parse_reference(test_images.demo.oci.ref_on(proxy.host))

    client.inspect(web, cred)
    client.inspect(web2, cred)  # same repository: same scope, cached token
    assert token_server.count == 1
    client.inspect(oci, cred)  # another repository: another scope
    assert token_server.count == 2

    clock.now += 295  # inside the early-refresh window of a 300 s token
    proxy.reset()
    client.inspect(web, cred)
    assert token_server.count == 3
    # the host's challenge is remembered: the new token is fetched up front, no 401 first
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 200)]


def test_a_token_without_expires_in_lasts_the_default_60_seconds(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    token_server.expires_in = None  # the answer carries no expires_in
    clock = ManualClock()
    client = make_client(client_kwargs={"clock": clock})
    cred = credential_for(token_registry.credentials)
    ref = parse_reference(test_images.demo.web_v1.ref_on(token_registry.host))
    client.inspect(ref, cred)
    clock.now += 45
    client.inspect(ref, cred)
    assert token_server.count == 1
    clock.now += 10
    client.inspect(ref, cred)
    assert token_server.count == 2


def test_a_revoked_token_is_replaced_once(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(token_registry)
    client = make_client()
    cred = credential_for(token_registry.credentials)
    ref = parse_reference(test_images.demo.web_v1.ref_on(proxy.host))
    client.inspect(ref, cred)
    proxy.reset()
    # the cached token is refused (as after a revocation): one fresh token, then success
    proxy.add(Fault.respond(401, method="HEAD", headers=_bearer_challenge(token_server, ref)))
    client.inspect(ref, cred)
    assert token_server.count == 2
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 401), ("HEAD", 200)]


def _bearer_challenge(token_server: TokenServer, ref: object) -> dict[str, str]:
    repo = ref.repository  # type: ignore[attr-defined]
    return {
        "WWW-Authenticate": f'Bearer realm="{token_server.realm}",service="{token_server.service}",'
        f'scope="repository:{repo}:pull"'
    }


def test_insufficient_scope_refetches_once(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    granted: list[str] = []

    def stingy_then_fair(account: str, type_: str, name: str, actions: list[str]) -> list[str]:
        granted.append(name)
        return [] if len(granted) == 1 else actions  # the first token grants nothing

    token_server.policy = stingy_then_fair
    client = make_client()
    ref = parse_reference(test_images.demo.web_v1.ref_on(token_registry.host))
    client.inspect(ref, credential_for(token_registry.credentials))
    assert token_server.count == 2


def test_a_never_sufficient_token_is_unauthorized_after_one_refetch(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    token_server.policy = lambda account, type_, name, actions: []
    ref = parse_reference(test_images.demo.web_v1.ref_on(token_registry.host))
    with pytest.raises(ImagePullError) as exc:
        make_client().inspect(ref, credential_for(token_registry.credentials))
    assert exc.value.reason is PullFailureReason.UNAUTHORIZED
    assert token_server.count == 2


# -- faults -------------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(anon_registry)
    proxy.add(Fault.respond(429, retry_after=1, path="/manifests/"))
    sleeps: list[float] = []
    client = make_client(client_kwargs={"sleep": sleeps.append})
    result = client.inspect(parse_reference(test_images.demo.multi.ref_on(proxy.host)))
    assert result.platform_digest == test_images.demo.multi.amd64_digest
    assert sleeps == [1.0]
    assert [r.status for r in proxy.requests][:2] == [429, 200]


def test_503_dropped_connection_and_slow_response_are_retried(
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(anon_registry)
    proxy.add(
        Fault.respond(503, path="/manifests/1.0"),
        Fault.drop(path="/manifests/1.0"),
        Fault.delay(3.0, path="/manifests/1.0"),  # longer than the request timeout below
    )
    client = make_client(registry_request_timeout_seconds=1.0)
    result = client.inspect(parse_reference(test_images.demo.web_v1.ref_on(proxy.host)))
    assert result.digest == test_images.demo.web_v1.digest
    # the delayed request is recorded when upstream's answer is ready, after we gave up on it
    deadline = time.monotonic() + 10
    while proxy.count("GET", r"/manifests/1\.0") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    faults = sorted(r.fault for r in proxy.requests if r.fault)
    assert faults == ["delay 3.0s", "drop", "respond 503"]
    assert proxy.count("GET", r"/manifests/1\.0") == 4


def test_a_registry_that_stays_down_fails_classified_within_the_budget(
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(anon_registry)
    proxy.add(Fault.respond(503, times=100))
    client = make_client(registry_retry_budget_seconds=3.0, registry_max_attempts=50)
    with pytest.raises(ImagePullError) as exc:
        client.inspect(parse_reference(test_images.demo.web_v1.ref_on(proxy.host)))
    assert exc.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE
    # the proxy's 503 carries no registry mark: the same text as a closed port (no oracle)
    assert "could not reach a registry at" in exc.value.message
    spent = proxy.requests[-1].started - proxy.requests[0].started
    assert spent <= 3.0  # the budget bounds the retries, however many attempts are allowed
    assert len(proxy.requests) >= 3


def test_rate_limit_that_outlasts_the_budget_is_rate_limited(
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(anon_registry)
    proxy.add(Fault.respond(429, retry_after=3600, times=10))
    with pytest.raises(ImagePullError) as exc:
        make_client().inspect(parse_reference(test_images.demo.web_v1.ref_on(proxy.host)))
    assert exc.value.reason is PullFailureReason.RATE_LIMITED
    assert len(proxy.requests) == 1


def test_a_closed_port_is_registry_unavailable(make_client: Callable[..., RegistryClient]) -> None:
    from devkit.registry import free_port

    client = make_client(registry_retry_budget_seconds=2.0)
    with pytest.raises(ImagePullError) as exc:
        client.inspect(parse_reference(f"127.0.0.1:{free_port()}/demo/web:1.0"))
    assert exc.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE


def test_a_request_budget_bounds_a_registry_that_never_answers(
    make_client: Callable[..., RegistryClient],
    anon_registry: RunningRegistry,
    test_images: StandardImages,
) -> None:
    """``with_budget`` (what an API request uses): one short try against a tarpit, where the
    client's own budget would wait out several 30 s timeouts; the view shares the client."""
    client = make_client(registry_request_timeout_seconds=30.0, registry_retry_budget_seconds=90.0)
    in_a_request = client.with_budget(1.0)
    with Tarpit() as tarpit:
        with pytest.raises(ImagePullError) as exc:
            in_a_request.inspect(parse_reference(f"{tarpit.host}/stuck/image:1"))
        attempts = tarpit.connections
    assert exc.value.reason is PullFailureReason.REGISTRY_UNAVAILABLE and exc.value.transient
    assert attempts == 1  # the client's own budget would have tried again after the timeout
    ref = parse_reference(test_images.demo.web_v1.ref_on(anon_registry.host))
    in_a_request.close()  # closes nothing shared
    assert client.inspect(ref).digest == in_a_request.inspect(ref).digest


# -- rollback exists-check ----------------------------------------------------------------------


def test_exists_check_sees_a_deleted_digest_as_gone(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    image_pusher: ImagePusher,
    make_client: Callable[..., RegistryClient],
) -> None:
    repo = f"scratch/{uuid.uuid4().hex[:12]}"
    pushed = image_pusher.push_oci_index(repo, "1.0", "to be deleted")
    pinned = parse_reference(f"{token_registry.host}/{repo}@{pushed.digest}")
    cred = credential_for(token_registry.credentials)
    client = make_client()
    client.inspect(pinned, cred)
    client.check_digest_exists(pinned, cred)

    image_pusher.delete_manifest(f"{repo}:1.0")
    with pytest.raises(ImagePullError) as exc:
        client.check_digest_exists(pinned, cred)
    assert exc.value.reason is PullFailureReason.NOT_FOUND
    assert "no longer exists" in exc.value.message
    with pytest.raises(ImagePullError) as exc:
        client.inspect(pinned, cred)  # cached manifests do not hide the deletion
    assert exc.value.reason is PullFailureReason.NOT_FOUND


def test_exists_check_without_permission_says_gone_or_not_permitted(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    web = test_images.demo.web_v1
    pinned = parse_reference(f"{token_registry.host}/{web.repository}@{web.digest}")
    with pytest.raises(ImagePullError) as exc:
        make_client().check_digest_exists(pinned)  # anonymous: demo/ is not public
    assert exc.value.reason is PullFailureReason.UNAUTHORIZED
    assert "gone or the credential can no longer read it" in exc.value.message


# -- SSRF guard ---------------------------------------------------------------------------------


def test_loopback_registry_is_blocked_unless_allowed(
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(anon_registry)
    client = make_client(registry_allowed_networks=())
    with pytest.raises(ImagePullError) as exc:
        client.inspect(parse_reference(test_images.demo.web_v1.ref_on(proxy.host)))
    assert exc.value.reason is PullFailureReason.BLOCKED_HOST
    assert "IMAGEDEPLOY_REGISTRY_ALLOWED_NETWORKS" in exc.value.message
    assert proxy.count() == 0


def test_token_realm_on_a_link_local_address_is_blocked(
    registry_storage: Path,
    tmp_path: Path,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
) -> None:
    # A real registry whose challenge sends clients to the cloud metadata address.
    assert token_server.cert_path is not None
    evil = start_registry(
        "token",
        registry_storage,
        tmp_path,
        token=TokenAuth(
            realm="http://169.254.169.254/latest/meta-data/token",
            service=token_server.service,
            issuer=token_server.issuer,
            rootcertbundle=token_server.cert_path,
        ),
    )
    try:
        with pytest.raises(ImagePullError) as exc:
            make_client().inspect(parse_reference(test_images.demo.web_v1.ref_on(evil.host)))
    finally:
        evil.stop()
    assert exc.value.reason is PullFailureReason.BLOCKED_HOST
    assert "169.254.169.254" in exc.value.message
