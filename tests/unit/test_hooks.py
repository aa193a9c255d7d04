"""Deploy hooks: the imgURL override (tag/digest only, the service's repository only, 404 with a
reason otherwise), hook keys, and the rate limit's headers (the limit itself: tests/usecases)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagedeploy.domain.errors import InvalidInput, NotFound
from imagedeploy.domain.hooks import (
    hash_hook_key,
    hook_key_matches,
    hook_not_found,
    new_hook_key,
    rate_limit_headers,
    resolve_hook_image,
)
from imagedeploy.domain.reference import parse_reference

pytestmark = pytest.mark.unit

NGINX = "docker.io/library/nginx:1.27"
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


# --- imgURL accepted ---


@pytest.mark.parametrize(
    ("service_image", "img_url", "deployed"),
    [
        (NGINX, None, NGINX),
        (NGINX, "docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"),
        (NGINX, "nginx:1.25", "docker.io/library/nginx:1.25"),  # familiar form
        (NGINX, "library/nginx:1.25", "docker.io/library/nginx:1.25"),
        (NGINX, "index.docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"),
        (NGINX, "https://docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"),
        (NGINX, "http://nginx:1.25", "docker.io/library/nginx:1.25"),
        (NGINX, "HTTPS://nginx:1.25", "docker.io/library/nginx:1.25"),
        (NGINX, "DOCKER.IO/library/nginx:1.25", "docker.io/library/nginx:1.25"),  # host case
        (NGINX, "nginx:Stable_1.25", "docker.io/library/nginx:Stable_1.25"),  # tags have case
        (NGINX, "nginx", "docker.io/library/nginx:latest"),  # as in Docker: no tag is latest
        # A digest override keeps the service's tag (for people); the digest is what is pulled.
        (NGINX, f"nginx@{A}", f"docker.io/library/nginx:1.27@{A}"),
        (NGINX, f"docker.io/library/nginx:1.2@{A}", f"docker.io/library/nginx:1.2@{A}"),
        # The service pins a digest: a tag replaces both, a digest replaces the digest.
        (f"{NGINX}@{A}", "nginx:1.28", "docker.io/library/nginx:1.28"),
        (f"{NGINX}@{A}", f"nginx@{B}", f"docker.io/library/nginx:1.27@{B}"),
        (f"docker.io/library/nginx@{A}", f"nginx@{B}", f"docker.io/library/nginx@{B}"),
        ("ghcr.io/acme/api:1", "ghcr.io/acme/api:2", "ghcr.io/acme/api:2"),
        ("ghcr.io/acme/api:1", "GHCR.IO/acme/api:2", "ghcr.io/acme/api:2"),
        ("localhost:5000/team/app:1", "localhost:5000/team/app:2", "localhost:5000/team/app:2"),
    ],
)
def test_img_url_selects_a_tag_or_digest(
    service_image: str, img_url: str | None, deployed: str
) -> None:
    assert resolve_hook_image(service_image, img_url).normalized == deployed


# --- imgURL refused: 404 with the reason ---


def _refusal(service_image: str, img_url: str) -> str:
    with pytest.raises(NotFound) as caught:
        resolve_hook_image(service_image, img_url)
    assert not isinstance(caught.value, InvalidInput)
    return caught.value.message


def test_renders_own_docs_example_is_a_tag_after_at() -> None:
    """Render documents ``imgURL=docker.io%2Flibrary%2Fnginx%401.24``: '@' then a tag."""
    query = parse_qs("key=AABBCC&imgURL=docker.io%2Flibrary%2Fnginx%401.24")
    img_url = query["imgURL"][0]
    assert img_url == "docker.io/library/nginx@1.24"
    message = _refusal(NGINX, img_url)
    assert "has the tag '1.24' after '@'" in message
    assert "'@' introduces a digest" in message
    assert "write the tag after ':'" in message
    assert "docker.io/library/nginx:1.24" in message


def test_the_short_form_of_renders_example() -> None:
    message = _refusal(NGINX, unquote("nginx%401.24"))
    assert "has the tag '1.24' after '@'" in message
    assert "e.g. imgURL=docker.io/library/nginx:1.24" in message


@pytest.mark.parametrize(
    ("img_url", "says"),
    [
        ("redis:7", "names the repository docker.io/library/redis, but this service deploys"),
        ("ghcr.io/library/nginx:1.25", "names the repository ghcr.io/library/nginx"),
        ("docker.io/acme/nginx:1.25", "names the repository docker.io/acme/nginx"),
        ("docker.io/library/nginx/extra:1", "names the repository docker.io/library/nginx/extra"),
        ("https://quay.io/library/nginx:1", "names the repository quay.io/library/nginx"),
    ],
)
def test_another_repository_is_refused(img_url: str, says: str) -> None:
    message = _refusal(NGINX, img_url)
    assert says in message
    assert "must name the service's repository docker.io/library/nginx" in message


@pytest.mark.parametrize(
    ("img_url", "says"),
    [
        ("", "imgURL is empty: leave it out"),
        ("   ", "imgURL is empty"),
        ("docker.io/library/NGINX:1.25", "repository name must be lowercase"),
        ("nginx:bad tag", "whitespace"),
        ("nginx:-bad", "invalid tag"),
        (f"nginx@{A[:-1]}", "invalid checksum digest length"),
        ("nginx@sha256:" + "A" * 64, "uppercase hex"),
        ("nginx:1.24@1.25", "is not a digest"),
        ("ftp://nginx:1", "not a URL"),
    ],
)
def test_malformed_img_url_is_refused_saying_why(img_url: str, says: str) -> None:
    message = _refusal(NGINX, img_url)
    assert says in message
    assert "imgURL" in message


# --- property: never another repository ---

_REPOSITORIES = [
    "docker.io/library/nginx",
    "docker.io/library/redis",
    "docker.io/acme/nginx",
    "ghcr.io/acme/api",
    "ghcr.io/acme/api/worker",
    "localhost:5000/acme/api",
]
_tags = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}\Z")
_digests = st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256:{}".format)


@st.composite
def _references(draw: st.DrawFn) -> str:
    text: str = draw(st.sampled_from(_REPOSITORIES))
    if draw(st.booleans()):
        text += ":" + draw(_tags)
    if draw(st.booleans()):
        text += "@" + draw(_digests)
    return draw(st.sampled_from(["", "https://", "http://"])) + text


@given(st.sampled_from(_REPOSITORIES), _references())
def test_never_another_repository(service_repository: str, img_url: str) -> None:
    service_ref = parse_reference(service_repository + ":1")
    override = parse_reference(img_url.split("://")[-1])
    try:
        resolved = resolve_hook_image(service_ref.normalized, img_url)
    except NotFound:
        assert not override.same_repository_as(service_ref)
        return
    assert override.same_repository_as(service_ref)
    assert resolved.name == service_ref.name
    if override.digest is not None:
        assert resolved.digest == override.digest
        assert resolved.tag == (override.tag or "1")
    else:
        assert resolved.tag == (override.tag or "latest")
        assert resolved.digest is None


@given(st.text(max_size=60))
def test_any_img_url_resolves_or_is_a_404(img_url: str) -> None:
    try:
        resolved = resolve_hook_image(NGINX, img_url)
    except NotFound:
        return  # only NotFound may escape: never InvalidInput, ValueError...
    assert resolved.name == "docker.io/library/nginx"


# --- keys ---


def test_new_hook_keys_are_random_and_at_least_32_bytes() -> None:
    keys = {new_hook_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) >= 32
        assert key.isascii() and all(c.isalnum() or c in "-_" for c in key)


def test_hook_key_verification() -> None:
    key = new_hook_key()
    stored = hash_hook_key(key)
    assert stored != key and len(stored) == 64
    assert hook_key_matches(key, stored)
    assert not hook_key_matches(new_hook_key(), stored)
    assert not hook_key_matches(key[:-1], stored)
    assert not hook_key_matches(None, stored)
    assert not hook_key_matches("", stored)
    assert not hook_key_matches("clé", stored)
    assert not hook_key_matches("\ud800", stored)
    assert not hook_key_matches(key, None)  # no such service
    assert not hook_key_matches(key, "")


def test_wrong_key_and_missing_service_look_the_same() -> None:
    first, second = hook_not_found(), hook_not_found()
    assert isinstance(first, NotFound)
    assert first.message == second.message
    assert "check the service id and the key" in first.message


# --- the rate limit ---


def test_rate_limit_headers() -> None:
    assert rate_limit_headers(10, 3, 42) == {
        "Ratelimit-Limit": "10",
        "Ratelimit-Remaining": "3",
        "Ratelimit-Reset": "42",
    }
    assert rate_limit_headers(10, -2, 5)["Ratelimit-Remaining"] == "0"
