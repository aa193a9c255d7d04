"""Tests of the real-registry test infrastructure itself (devkit/).

They prove that the fixtures behave as the README promises, against the REAL registry
(distribution 2.8) and skopeo/umoci, so later tests can rely on them.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit import skopeo
from devkit.fault_proxy import Fault, FaultProxy
from devkit.images import (
    ACCEPT_ALL_MANIFESTS,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImagePusher,
    PushedImage,
    StandardImages,
    build_image,
    sha256_digest,
)
from devkit.regclient import Credentials, parse_challenge, registry_client
from devkit.registry import BASIC_REALM, TEST_USER, RunningRegistry, free_port
from devkit.token_server import Scope, TokenServer

pytestmark = pytest.mark.integration

ProxyFactory = Callable[[RunningRegistry | str], FaultProxy]
FLAVOURS = ("anon_registry", "basic_registry", "token_registry")


@pytest.fixture(params=FLAVOURS)
def any_registry(request: pytest.FixtureRequest) -> RunningRegistry:
    registry: RunningRegistry = request.getfixturevalue(request.param)
    return registry


def _get(url: str, **kwargs: Any) -> httpx.Response:
    """httpx.get that ignores HTTP(S)_PROXY from the environment (everything is loopback)."""
    return httpx.get(url, trust_env=False, **kwargs)


def get_manifest(client: httpx.Client, repository: str, reference: str) -> httpx.Response:
    return client.get(
        f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT_ALL_MANIFESTS}
    )


def fetch_token(server: TokenServer, scope: str, creds: Credentials | None) -> httpx.Response:
    headers = {"Authorization": creds.basic_header()} if creds else {}
    return _get(server.realm, params={"service": server.service, "scope": scope}, headers=headers)


def jwt_part(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


# --- the three flavours ---------------------------------------------------------------------


def test_anonymous_registry_answers_v2(anon_registry: RunningRegistry) -> None:
    response = _get(f"{anon_registry.base_url}/v2/")
    assert response.status_code == 200
    assert anon_registry.credentials is None


def test_basic_registry_challenges_and_accepts_the_test_user(
    basic_registry: RunningRegistry,
) -> None:
    response = _get(f"{basic_registry.base_url}/v2/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Basic realm="{BASIC_REALM}"'
    assert basic_registry.credentials == TEST_USER
    ok = _get(f"{basic_registry.base_url}/v2/", auth=TEST_USER.basic_auth())
    assert ok.status_code == 200
    wrong = _get(f"{basic_registry.base_url}/v2/", auth=("imagedeploy-tester", "wrong"))
    assert wrong.status_code == 401


def test_token_registry_challenges_with_bearer_realm_service_and_scope(
    token_registry: RunningRegistry, token_server: TokenServer
) -> None:
    response = _get(f"{token_registry.base_url}/v2/demo/web/manifests/1.0")
    assert response.status_code == 401
    scheme, params = parse_challenge(response.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params == {
        "realm": token_server.realm,
        "service": token_server.service,
        "scope": "repository:demo/web:pull",
    }
    assert token_registry.token_service == token_server.service
    base = _get(f"{token_registry.base_url}/v2/")
    assert base.status_code == 401
    assert parse_challenge(base.headers["WWW-Authenticate"])[1] == {
        "realm": token_server.realm,
        "service": token_server.service,
    }


# --- tokens against the real registry -------------------------------------------------------


def test_token_from_token_server_opens_a_manifest_on_the_real_registry(
    token_registry: RunningRegistry, token_server: TokenServer, test_images: StandardImages
) -> None:
    image = test_images.demo.web_v1
    token_server.expires_in = 123
    reply = fetch_token(token_server, f"repository:{image.repository}:pull", TEST_USER)
    assert reply.status_code == 200
    body = reply.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 123
    assert body["issued_at"].endswith("Z")

    header, claims = jwt_part(body["token"], 0), jwt_part(body["token"], 1)
    assert header["alg"] == "RS256"
    assert isinstance(header["x5c"], list)
    assert len(header["x5c"]) == 1
    assert claims["aud"] == token_server.service  # a string: 2.8 rejects a list
    assert claims["access"] == [{"type": "repository", "name": "demo/web", "actions": ["pull"]}]

    manifest = _get(
        f"{token_registry.base_url}/v2/{image.repository}/manifests/{image.tag}",
        headers={"Authorization": f"Bearer {body['token']}", "Accept": ACCEPT_ALL_MANIFESTS},
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == image.digest

    [record] = token_server.requests
    assert record.scopes == ("repository:demo/web:pull",)
    assert record.account == TEST_USER.username
    assert record.auth_presented
    assert record.authenticated
    assert record.granted == (Scope("repository", "demo/web", ("pull",)),)
    assert TEST_USER.password not in repr(token_server.requests)


def test_anonymous_tokens_pull_public_repositories_only(
    token_registry: RunningRegistry, token_server: TokenServer, test_images: StandardImages
) -> None:
    with registry_client(token_registry.base_url) as anonymous:
        public = get_manifest(anonymous, "public/web", "1.0")
        assert public.status_code == 200
        assert public.headers["Docker-Content-Digest"] == test_images.public.web_v1.digest
        assert get_manifest(anonymous, "demo/web", "1.0").status_code == 401
    assert [r.granted for r in token_server.requests] == [
        (Scope("repository", "public/web", ("pull",)),),
        (),  # anonymous gets an empty token for demo/, and the registry refuses it
    ]
    assert not any(r.auth_presented for r in token_server.requests)


def test_several_scopes_in_one_token_request(token_server: TokenServer) -> None:
    reply = _get(
        token_server.realm,
        params=[
            ("service", token_server.service),
            ("scope", "repository:demo/a:pull,push"),
            ("scope", "repository:public/b:pull"),
        ],
    )
    assert reply.status_code == 200
    assert jwt_part(reply.json()["token"], 1)["access"] == [
        {"type": "repository", "name": "public/b", "actions": ["pull"]}
    ]
    assert token_server.requests[0].scopes == (
        "repository:demo/a:pull,push",
        "repository:public/b:pull",
    )


def test_token_server_refuses_wrong_password_and_records_no_secret(
    token_server: TokenServer,
) -> None:
    wrong = Credentials(TEST_USER.username, "not-the-password")
    reply = fetch_token(token_server, "repository:demo/web:pull", wrong)
    assert reply.status_code == 401
    [record] = token_server.requests
    assert record.auth_presented
    assert not record.authenticated
    assert "not-the-password" not in repr(record)


def test_token_server_injected_errors_and_expired_tokens(
    token_registry: RunningRegistry, token_server: TokenServer, test_images: StandardImages
) -> None:
    token_server.fail_next(503, retry_after="2")
    failed = fetch_token(token_server, "repository:demo/web:pull", TEST_USER)
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "2"

    # exp in the past beyond the registry's 60 s leeway: the registry must refuse it.
    token_server.jwt_exp_offset = -120
    stale = fetch_token(token_server, "repository:demo/web:pull", TEST_USER).json()["token"]
    refused = _get(
        f"{token_registry.base_url}/v2/demo/web/manifests/1.0",
        headers={"Authorization": f"Bearer {stale}", "Accept": ACCEPT_ALL_MANIFESTS},
    )
    assert refused.status_code == 401
    assert [r.status for r in token_server.requests] == [503, 200]
    assert token_server.count == 2


# --- the images -----------------------------------------------------------------------------


def test_every_image_is_served_with_the_recorded_digest(
    any_registry: RunningRegistry, test_images: StandardImages
) -> None:
    with registry_client(any_registry.base_url, any_registry.credentials) as client:
        for image in test_images.all():
            response = get_manifest(client, image.repository, image.tag)
            assert response.status_code == 200, image.reference
            assert response.headers["Docker-Content-Digest"] == image.digest
            assert response.headers["Content-Type"] == image.media_type
            assert sha256_digest(response.content) == image.digest
            head = client.head(
                f"/v2/{image.repository}/manifests/{image.tag}",
                headers={"Accept": ACCEPT_ALL_MANIFESTS},
            )
            assert head.headers["Docker-Content-Digest"] == image.digest
            assert int(head.headers["Content-Length"]) == len(response.content)
            for platform, digest in image.platform_digests.items():
                child = get_manifest(client, image.repository, digest)
                assert child.status_code == 200, (image.reference, platform)
                assert sha256_digest(child.content) == digest


def test_recorded_platforms_and_sizes_match_what_the_registry_serves(
    anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    with registry_client(anon_registry.base_url) as client:
        for image in test_images.all():
            top = get_manifest(client, image.repository, image.tag).json()
            if "manifests" in top:
                real = [m for m in top["manifests"] if m["platform"]["os"] != "unknown"]
                found = [
                    "/".join(filter(None, (p["os"], p["architecture"], p.get("variant"))))
                    for p in (m["platform"] for m in real)
                ]
                assert tuple(found) == image.platforms
                amd64 = [m["digest"] for m in real if m["platform"]["architecture"] == "amd64"]
                assert amd64 == [image.amd64_digest]
            for platform, digest in image.platform_digests.items():
                manifest = get_manifest(client, image.repository, digest).json()
                config = client.get(
                    f"/v2/{image.repository}/blobs/{manifest['config']['digest']}"
                ).json()
                assert f"{config['os']}/{config['architecture']}" in platform
                layers = {layer["digest"]: layer["size"] for layer in manifest["layers"]}
                assert image.sizes[platform] == manifest["config"]["size"] + sum(layers.values())
        assert test_images.demo.arm64_only.amd64_digest is None
        assert test_images.demo.arm64_only.expected_size is None
        big, web = test_images.demo.big, test_images.demo.web_v1
        assert big.expected_size is not None
        assert web.expected_size is not None
        assert big.expected_size > web.expected_size + 500_000


def test_oci_index_carries_a_buildkit_style_attestation(
    anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    multi = test_images.demo.multi
    with registry_client(anon_registry.base_url) as client:
        index = get_manifest(client, multi.repository, multi.tag).json()
    assert index["mediaType"] == OCI_INDEX
    [attestation] = [m for m in index["manifests"] if m["platform"]["os"] == "unknown"]
    assert attestation["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert attestation["digest"] == multi.attestation_digest
    assert attestation["annotations"] == {
        "vnd.docker.reference.digest": multi.amd64_digest,
        "vnd.docker.reference.type": "attestation-manifest",
    }


def test_builds_are_deterministic() -> None:
    assert build_image("same").digest == build_image("same").digest
    assert build_image("same").digest != build_image("other").digest
    assert build_image("same", fmt="oci").manifest.media_type == OCI_MANIFEST
    assert build_image("same").manifest.media_type == DOCKER_MANIFEST


def test_amd64_layer_from_the_registry_holds_an_executable_busybox(
    anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    image = test_images.demo.web_v1
    with registry_client(anon_registry.base_url) as client:
        manifest = get_manifest(client, image.repository, image.tag).json()
        files: dict[str, tarfile.TarInfo] = {}
        contents: dict[str, bytes] = {}
        for layer in manifest["layers"]:
            blob = client.get(f"/v2/{image.repository}/blobs/{layer['digest']}").content
            assert sha256_digest(blob) == layer["digest"]
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
                for member in tar.getmembers():
                    files[member.name] = member
                    extracted = tar.extractfile(member) if member.isfile() else None
                    contents[member.name] = extracted.read() if extracted else b""
    busybox = files["bin/busybox"]
    assert busybox.isfile()
    assert busybox.mode & 0o111
    assert contents["bin/busybox"].startswith(b"\x7fELF")
    assert files["bin/sh"].issym()
    assert files["bin/sh"].linkname == "busybox"
    assert contents["www/index.html"] == b"demo/web 1.0\n"


# --- skopeo / umoci agree -------------------------------------------------------------------


def test_skopeo_agrees_on_digests_and_architecture(
    anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    for image in test_images.demo.all():
        ref = image.ref_on(anon_registry.host)
        raw = skopeo.inspect_bytes(ref, raw=True)
        assert sha256_digest(raw) == image.digest, image.reference
        info = skopeo.inspect(ref)
        assert info["Digest"] == image.digest, image.reference
        # For an index skopeo picks the host's platform (this machine is linux/amd64).
        expected_arch = "amd64" if image.amd64_digest else image.platforms[0].split("/")[1]
        assert info["Architecture"] == expected_arch, image.reference
        assert info["Os"] == "linux"


def test_skopeo_copies_the_multi_arch_index_with_all_platforms(
    anon_registry: RunningRegistry, test_images: StandardImages, tmp_path: Path
) -> None:
    multi = test_images.demo.multi
    layout = tmp_path / "layout"
    skopeo.copy_to_oci_layout(multi.ref_on(anon_registry.host), layout, "multi", all_platforms=True)
    index = json.loads((layout / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["digest"] == multi.digest  # copied byte for byte
    for digest in (*multi.platform_digests.values(), multi.attestation_digest):
        assert digest is not None
        assert (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).is_file()


@pytest.fixture
def unpacked_web(
    anon_registry: RunningRegistry, test_images: StandardImages, tmp_path: Path
) -> Iterator[Path]:
    """demo/web:1.0 copied to an OCI layout and unpacked by umoci into a runtime bundle."""
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    skopeo.copy_to_oci_layout(test_images.demo.web_v1.ref_on(anon_registry.host), layout, "web")
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:web", str(bundle)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield bundle
    shutil.rmtree(bundle, ignore_errors=True)  # root-owned files; tmp_path cleanup is lazy


def test_umoci_unpacks_a_runnable_bundle(unpacked_web: Path) -> None:
    rootfs = unpacked_web / "rootfs"
    assert os.access(rootfs / "bin" / "busybox", os.X_OK)
    assert (rootfs / "bin" / "sh").readlink() == Path("busybox")
    assert (rootfs / "www" / "index.html").read_text() == "demo/web 1.0\n"
    process = json.loads((unpacked_web / "config.json").read_text())["process"]
    assert process["args"] == ["/bin/sh", "-c", 'exec /bin/busybox httpd -f -p "$PORT" -h /www']
    assert "PORT=10000" in process["env"]


def test_the_image_command_serves_index_html_on_port_from_env(unpacked_web: Path) -> None:
    """What a container engine would do, minus namespaces: chroot + the config's Cmd/Env."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root; the e2e tests run the image in a real engine")
    process = json.loads((unpacked_web / "config.json").read_text())["process"]
    port = free_port()
    env = dict(e.split("=", 1) for e in process["env"]) | {"PORT": str(port)}
    server = subprocess.Popen(
        ["chroot", str(unpacked_web / "rootfs"), *process["args"]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = _poll_get(f"http://127.0.0.1:{port}/index.html", server)
        assert body == "demo/web 1.0\n"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _poll_get(url: str, process: subprocess.Popen[bytes], timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"httpd exited with {process.returncode}"
        try:
            return _get(url, timeout=1).text
        except httpx.TransportError:
            time.sleep(0.02)
    raise TimeoutError(url)


# --- fault proxy ----------------------------------------------------------------------------


def test_proxy_injects_429_with_retry_after_then_passes_through(
    anon_registry: RunningRegistry, test_images: StandardImages, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(anon_registry)
    proxy.add(Fault.respond(429, retry_after=3, path="/manifests/"))
    with registry_client(proxy.base_url) as client:
        assert client.get("/v2/").status_code == 200  # not matching the path: passes
        limited = get_manifest(client, "demo/web", "1.0")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "3"
        assert limited.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        ok = get_manifest(client, "demo/web", "1.0")
        assert ok.headers["Docker-Content-Digest"] == test_images.demo.web_v1.digest
    assert [(r.path, r.status, r.fault) for r in proxy.requests] == [
        ("/v2/", 200, None),
        ("/v2/demo/web/manifests/1.0", 429, "respond 429"),
        ("/v2/demo/web/manifests/1.0", 200, None),
    ]
    assert proxy.count("GET", "/manifests/") == 2


@pytest.mark.parametrize("status", [503, 500, 408])
def test_proxy_injects_server_errors(
    anon_registry: RunningRegistry, fault_proxy: ProxyFactory, status: int
) -> None:
    proxy = fault_proxy(anon_registry).add(Fault.respond(status, method="HEAD", times=2))
    with registry_client(proxy.base_url) as client:
        url = "/v2/demo/web/manifests/1.0"
        assert client.get(url).status_code == 200  # GET does not match a HEAD fault
        assert [client.head(url).status_code for _ in range(3)] == [status, status, 200]
    assert not proxy.pending_faults


def test_proxy_drops_the_connection(
    anon_registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(anon_registry).add(Fault.drop())
    with httpx.Client(base_url=proxy.base_url, trust_env=False) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v2/")
        assert client.get("/v2/").status_code == 200
    assert [r.status for r in proxy.requests] == [None, 200]
    assert proxy.requests[0].fault == "drop"


def test_proxy_delays_a_response(anon_registry: RunningRegistry, fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(anon_registry).add(Fault.delay(0.3))
    with httpx.Client(base_url=proxy.base_url, trust_env=False) as client:
        assert client.get("/v2/").status_code == 200
        proxy.add(Fault.delay(5))
        with pytest.raises(httpx.ReadTimeout):  # a client timeout shorter than the delay
            client.get("/v2/", timeout=0.2)
    first = proxy.requests[0]
    assert first.fault == "delay 0.3s"
    assert first.duration >= 0.3


def test_proxy_forwards_head_and_pushes_with_the_proxy_as_host(
    anon_registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(anon_registry)
    repository = f"scratch/{uuid.uuid4().hex[:12]}"
    with registry_client(proxy.base_url) as client:
        pushed = ImagePusher(client).push_docker_image(repository, "1.0", "through the proxy")
        head = client.head(
            f"/v2/{repository}/manifests/1.0", headers={"Accept": ACCEPT_ALL_MANIFESTS}
        )
    assert head.headers["Docker-Content-Digest"] == pushed.digest
    assert int(head.headers["Content-Length"]) > 0
    assert head.content == b""
    # The upload Location pointed back at the proxy, so the PUT came through it too.
    assert proxy.count("PUT", "/blobs/uploads/") >= 1
    assert proxy.count("PUT", "/manifests/1.0") == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_skopeo_inspect_through_the_counting_proxy(
    request: pytest.FixtureRequest,
    flavour: str,
    test_images: StandardImages,
    fault_proxy: ProxyFactory,
) -> None:
    registry: RunningRegistry = request.getfixturevalue(flavour)
    proxy = fault_proxy(registry)
    multi = test_images.demo.multi
    info = skopeo.inspect(multi.ref_on(proxy.host), creds=registry.credentials)
    assert info["Digest"] == multi.digest
    assert proxy.count("GET", f"/manifests/{multi.amd64_digest}") == 1
    assert proxy.count() >= 3
    statuses = {r.status for r in proxy.requests}
    assert statuses <= {200, 401}


# --- deletes --------------------------------------------------------------------------------


def test_deleted_manifest_is_gone_on_all_three_flavours(
    image_pusher: ImagePusher,
    anon_registry: RunningRegistry,
    basic_registry: RunningRegistry,
    token_registry: RunningRegistry,
    token_server: TokenServer,
) -> None:
    repository = f"scratch/{uuid.uuid4().hex[:12]}"
    pushed: PushedImage = image_pusher.push_docker_image(repository, "1.0", "to be deleted")
    registries = (anon_registry, basic_registry, token_registry)
    for registry in registries:
        with registry_client(registry.base_url, registry.credentials) as client:
            assert get_manifest(client, repository, "1.0").status_code == 200

    # Delete through the token registry: proves the "delete" scope and storage.delete work.
    with registry_client(token_registry.base_url, token_registry.credentials) as client:
        assert ImagePusher(client).delete_manifest(f"{repository}:1.0") == pushed.digest
    assert any("delete" in s for r in token_server.requests for s in r.scopes)

    for registry in registries:
        with registry_client(registry.base_url, registry.credentials) as client:
            for reference in ("1.0", pushed.digest):
                response = get_manifest(client, repository, reference)
                assert response.status_code == 404, (registry.flavour, reference)
                assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


# --- logs -----------------------------------------------------------------------------------


def test_registry_access_log_records_requests(anon_registry: RunningRegistry) -> None:
    marker = f"/v2/log-probe-{uuid.uuid4().hex[:8]}/tags/list"
    assert _get(anon_registry.base_url + marker).status_code == 404
    entries = anon_registry.wait_for_access_log(lambda es: any(e.path == marker for e in es))
    assert [e.status for e in entries if e.path == marker] == [404]
    assert TEST_USER.password not in anon_registry.log_text()


# --- distribution 2.8 behaviours later tests depend on ---------------------------------------


def test_distribution_needs_oci_types_in_accept(
    anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    """2.8 answers 404 for an OCI manifest/index whose type is not in Accept, and serves a
    Docker manifest list's linux/amd64 child when the list type is not in Accept."""
    docker_only = {"Accept": DOCKER_MANIFEST}
    base = anon_registry.base_url
    oci, multi = test_images.demo.oci, test_images.demo.multi
    assert _get(f"{base}/v2/demo/oci/manifests/1.0", headers=docker_only).status_code == 404
    assert _get(f"{base}/v2/demo/multi/manifests/1.0", headers=docker_only).status_code == 404
    child = _get(f"{base}/v2/demo/oci/manifests/{oci.digest}", headers=docker_only)
    assert child.status_code == 404  # by digest too
    listed = _get(f"{base}/v2/demo/list/manifests/1.0", headers=docker_only)
    assert listed.status_code == 200
    assert listed.headers["Docker-Content-Digest"] == test_images.demo.docker_list.amd64_digest
    assert multi.amd64_digest is not None
