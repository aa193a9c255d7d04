"""Registry-specific auth behaviour of the client, against in-memory fakes of Docker Hub, GHCR,
GitLab, Google Artifact Registry and ECR (the real hosts are not reachable from tests; the generic
flows run against a real registry in tests/integration)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.registry import RegistryClient
from imagedeploy.registry.manifest import DOCKER_MANIFEST
from imagedeploy.settings import Settings

pytestmark = pytest.mark.unit

SECRET = "tok-3f9a1c-very-secret"
CONFIG = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {}}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": CONFIG_DIGEST,
            "size": len(CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": "sha256:" + "1" * 64,
                "size": 1000,
            }
        ],
    }
).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def public_resolver(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def image_response(request: httpx.Request) -> httpx.Response:
    if "/blobs/" in request.url.path:
        return httpx.Response(200, content=CONFIG)
    headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": MANIFEST_DIGEST}
    return httpx.Response(
        200, content=b"" if request.method == "HEAD" else MANIFEST, headers=headers
    )


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> RegistryClient:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.Client(transport=httpx.MockTransport(record))
    return RegistryClient(
        Settings(registry_retry_budget_seconds=5),
        http_client=http,
        resolver=public_resolver,
        sleep=lambda s: None,
    )


def cred(kind: RegistryKind, username: str) -> RegistryCredential:
    return RegistryCredential(kind, username, SecretStr(SECRET))


def test_docker_hub_uses_registry_1_and_library_namespace() -> None:
    seen: list[httpx.Request] = []
    client = make_client(image_response, seen)
    result = client.inspect(parse_reference("alpine"))
    assert str(seen[0].url) == "https://registry-1.docker.io/v2/library/alpine/manifests/latest"
    assert result.reference == "docker.io/library/alpine:latest"


def test_google_artifact_registry_challenge_without_service_or_scope() -> None:
    host = "us-docker.pkg.dev"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/token":
            assert request.headers["authorization"] == basic("_json_key", SECRET)
            return httpx.Response(200, json={"access_token": "gar-token", "expires_in": 3600})
        if request.headers.get("authorization") != "Bearer gar-token":
            return httpx.Response(
                401, headers={"WWW-Authenticate": f'Bearer realm="https://{host}/v2/token"'}
            )
        return image_response(request)

    seen: list[httpx.Request] = []
    client = make_client(handler, seen)
    client.inspect(
        parse_reference(f"{host}/proj/repo/app:1"), cred(RegistryKind.GOOGLE_ARTIFACT, "_json_key")
    )
    token_request = next(r for r in seen if r.url.path == "/v2/token")
    query = parse_qs(urlsplit(str(token_request.url)).query)
    assert query["service"] == [host]
    assert query["scope"] == ["repository:proj/repo/app:pull"]


def test_gitlab_realm_on_another_host_gets_the_credentials_registry_gets_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "gitlab.com":
            return httpx.Response(200, json={"token": "gl-token"})
        if request.headers.get("authorization") != "Bearer gl-token":
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://gitlab.com/jwt/auth",'
                    'service="container_registry",scope="repository:grp/app:pull"'
                },
            )
        return image_response(request)

    seen: list[httpx.Request] = []
    make_client(handler, seen).inspect(
        parse_reference("registry.gitlab.com/grp/app:1"), cred(RegistryKind.GITLAB, "deployer")
    )
    realm_calls = [r for r in seen if r.url.host == "gitlab.com"]
    registry_calls = [r for r in seen if r.url.host == "registry.gitlab.com"]
    assert all(r.headers["authorization"].startswith("Basic ") for r in realm_calls)
    assert all(not r.headers.get("authorization", "").startswith("Basic") for r in registry_calls)


ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def test_ecr_basic_login_is_user_aws() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != basic("AWS", SECRET):
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": f'Basic realm="https://{ECR}/",service="ecr.amazonaws.com"'
                },
            )
        return image_response(request)

    seen: list[httpx.Request] = []
    result = make_client(handler, seen).inspect(
        parse_reference(f"{ECR}/app:1"), cred(RegistryKind.AWS_ECR, "123456789012")
    )
    assert result.digest == MANIFEST_DIGEST


def test_ecr_expired_token_is_403_denied_and_says_how_to_renew() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "authorization" not in request.headers:
            return httpx.Response(
                401, headers={"WWW-Authenticate": f'Basic realm="https://{ECR}/"'}
            )
        return httpx.Response(
            403,
            json={
                "errors": [{"code": "DENIED", "message": "Your authorization token has expired."}]
            },
        )

    with pytest.raises(ImagePullError) as exc:
        make_client(handler, []).inspect(
            parse_reference(f"{ECR}/app:1"), cred(RegistryKind.AWS_ECR, "123456789012")
        )
    assert exc.value.reason is PullFailureReason.UNAUTHORIZED
    assert (
        "expire after 12 hours" in exc.value.message and "get-login-password" in exc.value.message
    )
    assert SECRET not in exc.value.message


def test_ghcr_stale_credentials_on_a_public_image_retry_anonymously_once() -> None:
    challenge = {
        "WWW-Authenticate": 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull"'
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            if "authorization" in request.headers:
                return httpx.Response(403)  # the stale PAT
            return httpx.Response(200, json={"token": "anon"})
        if request.headers.get("authorization") != "Bearer anon":
            return httpx.Response(401, headers=challenge)
        return image_response(request)

    seen: list[httpx.Request] = []
    result = make_client(handler, seen).inspect(
        parse_reference("ghcr.io/org/app:1"), cred(RegistryKind.GITHUB, "octocat")
    )
    assert result.digest == MANIFEST_DIGEST
    assert sum(1 for r in seen if r.url.path == "/token") == 2


def test_ghcr_private_image_with_stale_credentials_stays_unauthorized() -> None:
    challenge = {"WWW-Authenticate": 'Bearer realm="https://ghcr.io/token",service="ghcr.io"'}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return (
                httpx.Response(403)
                if "authorization" in request.headers
                else httpx.Response(200, json={"token": "anon"})
            )
        return httpx.Response(401, headers=challenge)

    with pytest.raises(ImagePullError) as exc:
        make_client(handler, []).inspect(
            parse_reference("ghcr.io/org/app:1"), cred(RegistryKind.GITHUB, "octocat")
        )
    assert exc.value.reason is PullFailureReason.UNAUTHORIZED
    assert "read:packages" in exc.value.message  # the credential's error, not the anonymous one


def test_digest_mismatch_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=MANIFEST,
            headers={
                "Content-Type": DOCKER_MANIFEST,
                "Docker-Content-Digest": "sha256:" + "0" * 64,
            },
        )

    with pytest.raises(ImagePullError) as exc:
        make_client(handler, []).inspect(parse_reference("registry.example.com/app:1"))
    assert "does not match its digest" in exc.value.message


def test_missing_content_digest_header_falls_back_to_hashing_the_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/blobs/" in request.url.path:
            return httpx.Response(200, content=CONFIG)
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": DOCKER_MANIFEST})

    result = make_client(handler, []).inspect(parse_reference("registry.example.com/app:1"))
    assert result.digest == MANIFEST_DIGEST


def test_blob_redirect_to_storage_host_carries_no_authorization() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.example.net":
            return httpx.Response(200, content=CONFIG)
        if request.headers.get("authorization") != basic("u", SECRET):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        if "/blobs/" in request.url.path:
            return httpx.Response(
                307, headers={"Location": "https://storage.example.net/blob?sig=abc"}
            )
        return image_response(request)

    seen: list[httpx.Request] = []
    make_client(handler, seen).inspect(
        parse_reference("registry.example.com/app:1"), cred(RegistryKind.DOCKER, "u")
    )
    storage = [r for r in seen if r.url.host == "storage.example.net"]
    assert len(storage) == 1 and "authorization" not in storage[0].headers
