"""Test tables ported case by case from the Go sources ``imagedeploy.domain.reference`` reproduces.

Sources (public repositories; the commit is that of the file version ported):

- github.com/distribution/reference
  - ``normalize_test.go`` @ 4894124079e525c3c3c5c8aacaa653b5499004e9
  - ``reference_test.go`` @ ff14fafe2236e51c2894ac07d4bdfc778e96d682 (the version that limits the
    *path* to 255 characters, matching ``reference.go`` @ 0965666a6ade2e06035fe352e38344be1e68951a)
  - ``regexp_test.go`` @ 00a09fa3799203fc887e667b0d82142ee831939a (same tables as 875f162f)
- github.com/opencontainers/go-digest
  - ``digest_test.go`` @ 01e3f4bab87900f5d56bc8006ead0953957b282e, judged with the rules of v1.0.0
    (``digest.go``/``algorithm.go``: a wrong length is ErrDigestInvalidLength), the release Docker
    vendors.

Every case of every table is here, in Go's order, with Go's expectation. Errors are written as the
Go error's text (our messages contain it). Where our API deliberately differs from Go, the case
says so in an ``ours``/comment field; the module docstring of ``imagedeploy.domain.reference`` lists
those deviations.
"""

from __future__ import annotations

from typing import NamedTuple

from imagedeploy.domain.digest import (
    ERR_DIGEST_INVALID_FORMAT,
    ERR_DIGEST_INVALID_LENGTH,
    ERR_DIGEST_UNSUPPORTED,
)
from imagedeploy.domain.reference import (
    ERR_NAME_CONTAINS_UPPERCASE,
    ERR_NAME_EMPTY,
    ERR_NAME_NOT_CANONICAL,
    ERR_NAME_TOO_LONG,
    ERR_REFERENCE_INVALID_FORMAT,
)

F64 = "f" * 64
F128 = "f" * 128

# ================================ normalize_test.go ===============================================

# TestValidateReferenceName (ParseNormalizedNamed)
VALIDATE_REFERENCE_NAME_VALID = [
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    # Valid with a hostname: no ambiguity with a 64-hex identifier.
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
]
VALIDATE_REFERENCE_NAME_INVALID = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
]

# TestValidateRemoteName (ParseNormalizedNamed)
VALIDATE_REMOTE_NAME_VALID = [
    "docker/docker",  # sanity check
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",  # 64, not hex
    "docker-rules/docker",  # embedded hyphens
    "docker---rules/docker",  # multiple hyphens
    "doc/docker",
    "d/docker",  # single character names
    "jess/t",
    "dock__er/docker",  # consecutive underscores
]
VALIDATE_REMOTE_NAME_INVALID = [
    "docker/Docker",  # capital letters
    "docker///docker",  # only one slash
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",  # 64-hex
    "-docker/docker",  # leading and trailing hyphens in namespace
    "docker-/docker",
    "-docker-/docker",
    "____/____",  # underscores everywhere
    "_docker/_docker",
    "dock..er/docker",  # consecutive periods
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",  # no repository
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_"
    "namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_"
    "lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_"
    "255/docker",  # namespace too long
]


class RepositoryInfoCase(NamedTuple):
    remote_name: str
    familiar_name: str
    full_name: str
    ambiguous_name: str  # "" when none
    domain: str


# TestParseRepositoryInfo: each of familiar, full and ambiguous name parses to the same thing.
PARSE_REPOSITORY_INFO = [
    RepositoryInfoCase(
        "fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"
    ),
    RepositoryInfoCase(
        "library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"
    ),
    RepositoryInfoCase(
        "nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"
    ),
    RepositoryInfoCase(
        "other/library", "other/library", "docker.io/other/library", "", "docker.io"
    ),
    RepositoryInfoCase(
        "private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "",
        "127.0.0.1:8000",
    ),
    RepositoryInfoCase(
        "privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        "",
        "127.0.0.1:8000",
    ),
    RepositoryInfoCase(
        "private/moonbase",
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        "",
        "example.com",
    ),
    RepositoryInfoCase(
        "privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"
    ),
    RepositoryInfoCase(
        "private/moonbase",
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase",
        "",
        "example.com:8000",
    ),
    RepositoryInfoCase(
        "privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "",
        "example.com:8000",
    ),
    RepositoryInfoCase(
        "library/ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "index.docker.io/library/ubuntu-12.04-base",
        "docker.io",
    ),
    RepositoryInfoCase("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    RepositoryInfoCase(
        "library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"
    ),
    RepositoryInfoCase(
        "store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"
    ),
    RepositoryInfoCase("bar", "Foo/bar", "Foo/bar", "", "Foo"),
    RepositoryInfoCase("bar", "FOO/bar", "FOO/bar", "", "FOO"),
]

# TestParseReferenceWithTagAndDigest
TAG_AND_DIGEST_SHORT_REF = (
    "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
)

# TestInvalidReferenceComponents: ParseNormalizedNamed("-foo") fails; on "busybox", WithTag("-foo")
# and WithDigest("foo") fail.
INVALID_REFERENCE_COMPONENTS = {"name": "-foo", "base": "busybox", "tag": "-foo", "digest": "foo"}


class AnyReferenceCase(NamedTuple):
    reference: str
    equivalent: str
    expected_digest: str | None = None  # Go's digestReference, when the result is a bare digest


_REDIS_DIGEST = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"

# TestParseAnyReference
PARSE_ANY_REFERENCE = [
    AnyReferenceCase("redis", "docker.io/library/redis"),
    AnyReferenceCase("redis:latest", "docker.io/library/redis:latest"),
    AnyReferenceCase("docker.io/library/redis:latest", "docker.io/library/redis:latest"),
    AnyReferenceCase(f"redis@{_REDIS_DIGEST}", f"docker.io/library/redis@{_REDIS_DIGEST}"),
    AnyReferenceCase(
        f"docker.io/library/redis@{_REDIS_DIGEST}", f"docker.io/library/redis@{_REDIS_DIGEST}"
    ),
    AnyReferenceCase("dmcgowan/myapp", "docker.io/dmcgowan/myapp"),
    AnyReferenceCase("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
    AnyReferenceCase("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
    AnyReferenceCase(
        f"dmcgowan/myapp@{_REDIS_DIGEST}", f"docker.io/dmcgowan/myapp@{_REDIS_DIGEST}"
    ),
    AnyReferenceCase(
        f"docker.io/dmcgowan/myapp@{_REDIS_DIGEST}", f"docker.io/dmcgowan/myapp@{_REDIS_DIGEST}"
    ),
    AnyReferenceCase(
        "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
        _REDIS_DIGEST,
        expected_digest=_REDIS_DIGEST,
    ),
    AnyReferenceCase(_REDIS_DIGEST, _REDIS_DIGEST, expected_digest=_REDIS_DIGEST),
    AnyReferenceCase(
        "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
        "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
    ),
    AnyReferenceCase("dbcc1", "docker.io/library/dbcc1"),
]

# TestNormalizedSplitHostname: (input, domain, path)
NORMALIZED_SPLIT_HOSTNAME = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
]

# TestMatchError: ParseAnyReference("foo"), then FamiliarMatch("[-x]", ref) must fail (bad pattern).
MATCH_ERROR = ("foo", "[-x]")

# TestMatch: (reference, pattern, expected); FamiliarMatch is Go's path.Match against the familiar
# string, then against the familiar name.
MATCH = [
    ("foo", "foo/**/ba[rz]", False),
    ("foo/any/bat", "foo/**/ba[rz]", False),
    ("foo/a/bar", "foo/**/ba[rz]", True),
    ("foo/b/baz", "foo/**/ba[rz]", True),
    ("foo/c/baz:tag", "foo/**/ba[rz]", True),
    ("foo/c/baz:tag", "foo/*/baz:tag", True),
    ("foo/c/baz:tag", "foo/c/baz:tag", True),
    ("example.com/foo/c/baz:tag", "*/foo/c/baz", True),
    ("example.com/foo/c/baz:tag", "example.com/foo/c/baz", True),
]

_BUSYBOX_DIGEST = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"

# TestParseDockerRef: (name, input, expected String())
PARSE_DOCKER_REF = [
    ("nothing", "busybox", "docker.io/library/busybox:latest"),
    ("tag only", "busybox:latest", "docker.io/library/busybox:latest"),
    (
        "digest only",
        f"busybox@{_BUSYBOX_DIGEST}",
        f"docker.io/library/busybox@{_BUSYBOX_DIGEST}",
    ),
    ("path only", "library/busybox", "docker.io/library/busybox:latest"),
    ("hostname only", "docker.io/busybox", "docker.io/library/busybox:latest"),
    ("no tag", "docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("no path", "docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("no hostname", "library/busybox:latest", "docker.io/library/busybox:latest"),
    (
        "full reference with tag",
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox:latest",
    ),
    ("gcr reference without tag", "gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    (
        "both tag and digest",
        f"gcr.io/library/busybox:latest@{_BUSYBOX_DIGEST}",
        f"gcr.io/library/busybox@{_BUSYBOX_DIGEST}",
    ),
]

# ================================ reference_test.go ===============================================


class ParseCase(NamedTuple):
    input: str
    err: str | None = None  # the Go error's text
    repository: str = ""  # Name()
    domain: str = ""
    tag: str | None = None
    digest: str | None = None


_SHA512_F = f"sha512:{F128}"

# TestReferenceParse (reference.Parse: no normalization)
REFERENCE_PARSE = [
    ParseCase("test_com", repository="test_com"),
    ParseCase("test.com:tag", repository="test.com", tag="tag"),
    ParseCase("test.com:5000", repository="test.com", tag="5000"),
    ParseCase("test.com/repo:tag", domain="test.com", repository="test.com/repo", tag="tag"),
    ParseCase("test:5000/repo", domain="test:5000", repository="test:5000/repo"),
    ParseCase("test:5000/repo:tag", domain="test:5000", repository="test:5000/repo", tag="tag"),
    ParseCase(
        f"test:5000/repo@sha256:{F64}",
        domain="test:5000",
        repository="test:5000/repo",
        digest=f"sha256:{F64}",
    ),
    ParseCase(
        f"test:5000/repo:tag@sha256:{F64}",
        domain="test:5000",
        repository="test:5000/repo",
        tag="tag",
        digest=f"sha256:{F64}",
    ),
    ParseCase("test:5000/repo", domain="test:5000", repository="test:5000/repo"),
    ParseCase("", err=ERR_NAME_EMPTY),
    ParseCase(":justtag", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase(f"@sha256:{F64}", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase("repo@sha256:" + "f" * 34, err=ERR_DIGEST_INVALID_LENGTH),
    ParseCase(f"validname@invaliddigest:{F64}", err=ERR_DIGEST_UNSUPPORTED),
    ParseCase("Uppercase:tag", err=ERR_NAME_CONTAINS_UPPERCASE),
    # FIXME in Go: "Uppercase/lowercase:tag" is handled as a domain-name, therefore passes.
    ParseCase("test:5000/Uppercase/lowercase:tag", err=ERR_NAME_CONTAINS_UPPERCASE),
    ParseCase("lowercase:Uppercase", repository="lowercase", tag="Uppercase"),
    ParseCase("domain/" + "a" * 256 + ":tag", err=ERR_NAME_TOO_LONG),
    ParseCase(
        "a/" * 127 + "a:tag-puts-this-over-max",
        domain="a",
        repository="a/" * 127 + "a",
        tag="tag-puts-this-over-max",
    ),
    ParseCase("aa/asdf$$^/aa", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase(
        "sub-dom1.foo.com/bar/baz/quux",
        domain="sub-dom1.foo.com",
        repository="sub-dom1.foo.com/bar/baz/quux",
    ),
    ParseCase(
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        domain="sub-dom1.foo.com",
        repository="sub-dom1.foo.com/bar/baz/quux",
        tag="some-long-tag",
    ),
    ParseCase(
        "b.gcr.io/test.example.com/my-app:test.example.com",
        domain="b.gcr.io",
        repository="b.gcr.io/test.example.com/my-app",
        tag="test.example.com",
    ),
    ParseCase(  # ☃.com in punycode
        "xn--n3h.com/myimage:xn--n3h.com",
        domain="xn--n3h.com",
        repository="xn--n3h.com/myimage",
        tag="xn--n3h.com",
    ),
    ParseCase(  # 🐳.com in punycode
        f"xn--7o8h.com/myimage:xn--7o8h.com@{_SHA512_F}",
        domain="xn--7o8h.com",
        repository="xn--7o8h.com/myimage",
        tag="xn--7o8h.com",
        digest=_SHA512_F,
    ),
    ParseCase("foo_bar.com:8080", repository="foo_bar.com", tag="8080"),
    ParseCase("foo/foo_bar.com:8080", domain="foo", repository="foo/foo_bar.com", tag="8080"),
    ParseCase("192.168.1.1", repository="192.168.1.1"),
    ParseCase("192.168.1.1:tag", repository="192.168.1.1", tag="tag"),
    ParseCase("192.168.1.1:5000", repository="192.168.1.1", tag="5000"),
    ParseCase("192.168.1.1/repo", domain="192.168.1.1", repository="192.168.1.1/repo"),
    ParseCase(
        "192.168.1.1:5000/repo", domain="192.168.1.1:5000", repository="192.168.1.1:5000/repo"
    ),
    ParseCase(
        "192.168.1.1:5000/repo:5050",
        domain="192.168.1.1:5000",
        repository="192.168.1.1:5000/repo",
        tag="5050",
    ),
    ParseCase("[2001:db8::1]", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase("[2001:db8::1]:5000", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase("[2001:db8::1]:tag", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase("[2001:db8::1]/repo", domain="[2001:db8::1]", repository="[2001:db8::1]/repo"),
    ParseCase(
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        domain="[2001:db8:1:2:3:4:5:6]",
        repository="[2001:db8:1:2:3:4:5:6]/repo",
        tag="tag",
    ),
    ParseCase(
        "[2001:db8::1]:5000/repo", domain="[2001:db8::1]:5000", repository="[2001:db8::1]:5000/repo"
    ),
    ParseCase(
        "[2001:db8::1]:5000/repo:tag",
        domain="[2001:db8::1]:5000",
        repository="[2001:db8::1]:5000/repo",
        tag="tag",
    ),
    ParseCase(
        f"[2001:db8::1]:5000/repo@sha256:{F64}",
        domain="[2001:db8::1]:5000",
        repository="[2001:db8::1]:5000/repo",
        digest=f"sha256:{F64}",
    ),
    ParseCase(
        f"[2001:db8::1]:5000/repo:tag@sha256:{F64}",
        domain="[2001:db8::1]:5000",
        repository="[2001:db8::1]:5000/repo",
        tag="tag",
        digest=f"sha256:{F64}",
    ),
    ParseCase(
        "[2001:db8::]:5000/repo", domain="[2001:db8::]:5000", repository="[2001:db8::]:5000/repo"
    ),
    ParseCase("[::1]:5000/repo", domain="[::1]:5000", repository="[::1]:5000/repo"),
    ParseCase("[fe80::1%eth0]:5000/repo", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase("[fe80::1%@invalidzone]:5000/repo", err=ERR_REFERENCE_INVALID_FORMAT),
    ParseCase(
        "example.com/" + "a" * 255 + ":tag",
        domain="example.com",
        repository="example.com/" + "a" * 255,
        tag="tag",
    ),
]

# TestWithNameFailure: (input, Go error) for WithName (the anchored name regexp + path length).
WITH_NAME_FAILURE = [
    ("", ERR_REFERENCE_INVALID_FORMAT),
    (":justtag", ERR_REFERENCE_INVALID_FORMAT),
    (f"@sha256:{F64}", ERR_REFERENCE_INVALID_FORMAT),
    (f"validname@invaliddigest:{F64}", ERR_REFERENCE_INVALID_FORMAT),
    ("example.com/repo:tag", ERR_REFERENCE_INVALID_FORMAT),
    ("example.com/" + "a" * 256, ERR_NAME_TOO_LONG),
    ("aa/asdf$$^/aa", ERR_REFERENCE_INVALID_FORMAT),
]

# TestDomainAndPath: (input, domain, path) for WithName.
DOMAIN_AND_PATH = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "", "test_com/foo"),
    ("test:8080/foo", "test:8080", "foo"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
]


class SerializationCase(NamedTuple):
    description: str
    input: str
    name: str = ""
    tag: str | None = None
    digest: str | None = None
    err: str | None = None


# TestSerialization: Field.UnmarshalText is reference.Parse; MarshalText gives String() back.
SERIALIZATION = [
    SerializationCase("empty value", "", err=ERR_NAME_EMPTY),
    SerializationCase("just a name", "example.com:8000/named", name="example.com:8000/named"),
    SerializationCase(
        "name with a tag",
        "example.com:8000/named:tagged",
        name="example.com:8000/named",
        tag="tagged",
    ),
    SerializationCase(
        "name with digest",
        "other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112",
        name="other.com/named",
        digest="sha256:1234567890098765432112345667890098765432112345667890098765432112",
    ),
]


class CombineCase(NamedTuple):
    name: str
    digest: str | None
    tag: str | None
    combined: str  # Go's String() of the result


# A 39-hex digest: Go's WithDigest accepts it (grammar: 32+ hex), go-digest does not (deviation 4).
_SHORT_DIGEST = "sha256:1234567890098765432112345667890098765"

# TestWithTag: WithName(name) [+ WithDigest(digest)] + WithTag(tag)
WITH_TAG = [
    CombineCase("test.com/foo", None, "tag", "test.com/foo:tag"),
    CombineCase("foo", None, "tag2", "foo:tag2"),
    CombineCase("test.com:8000/foo", None, "tag4", "test.com:8000/foo:tag4"),
    CombineCase("test.com:8000/foo", None, "TAG5", "test.com:8000/foo:TAG5"),
    CombineCase(
        "test.com:8000/foo",
        _SHORT_DIGEST,
        "TAG5",
        f"test.com:8000/foo:TAG5@{_SHORT_DIGEST}",
    ),
]

# TestWithDigest: WithName(name) [+ WithTag(tag)] + WithDigest(digest)
WITH_DIGEST = [
    CombineCase("test.com/foo", _SHORT_DIGEST, None, f"test.com/foo@{_SHORT_DIGEST}"),
    CombineCase("foo", _SHORT_DIGEST, None, f"foo@{_SHORT_DIGEST}"),
    CombineCase("test.com:8000/foo", _SHORT_DIGEST, None, f"test.com:8000/foo@{_SHORT_DIGEST}"),
    CombineCase(
        "test.com:8000/foo",
        _SHORT_DIGEST,
        "latest",
        f"test.com:8000/foo:latest@{_SHORT_DIGEST}",
    ),
]

# TestParseNamed: (input, domain, path, Go error)
PARSE_NAMED = [
    ("test.com/foo", "test.com", "foo", None),
    ("test:8080/foo", "test:8080", "foo", None),
    ("test_com/foo", "", "", ERR_NAME_NOT_CANONICAL),
    ("test.com", "", "", ERR_NAME_NOT_CANONICAL),
    ("foo", "", "", ERR_NAME_NOT_CANONICAL),
    ("library/foo", "", "", ERR_NAME_NOT_CANONICAL),
    ("docker.io/library/foo", "docker.io", "library/foo", None),
    ("docker.io/foo", "", "", ERR_NAME_NOT_CANONICAL),  # ambiguous: the parser adds "library/"
]

# ================================ regexp_test.go ==================================================

# TestDomainRegexp: (input, match) against ^domainAndPort$
DOMAIN_REGEXP = [
    ("test.com", True),
    ("test.com:10304", True),
    ("test.com:http", False),
    ("localhost", True),
    ("localhost:8080", True),
    ("a", True),
    ("a.b", True),
    ("ab.cd.com", True),
    ("a-b.com", True),
    ("-ab.com", False),
    ("ab-.com", False),
    ("ab.c-om", True),
    ("ab.-com", False),
    ("ab.com-", False),
    ("0101.com", True),  # TODO(dmcgowan) in Go: valid if this should be allowed
    ("001a.com", True),
    ("b.gbc.io:443", True),
    ("b.gbc.io", True),
    ("xn--n3h.com", True),  # ☃.com in punycode
    ("Asdf.com", True),  # uppercase character
    ("192.168.1.1:75050", True),  # ipv4
    ("192.168.1.1:750050", True),  # port with more than 5 digits, fails on validation
    ("[fd00:1:2::3]:75050", True),  # ipv6 compressed
    ("[fd00:1:2::3]75050", False),  # ipv6 wrong port separator
    ("[fd00:1:2::3]::75050", False),  # ipv6 wrong port separator
    ("[fd00:1:2::3%eth0]:75050", False),  # ipv6 with zone
    ("[fd00123123123]:75050", True),  # ipv6 wrong format, fails in validation
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", True),  # ipv6 long format
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", True),  # long format, invalid port
    ("fd00:1:2::3:75050", False),  # bad ipv6 without square brackets
]


class RegexpMatch(NamedTuple):
    input: str
    match: bool
    subs: tuple[str, ...] = ()  # Go's submatches; "" for a group that did not take part


# TestFullNameRegexp: anchoredNameRegexp, two groups (domain, path).
FULL_NAME_REGEXP = [
    RegexpMatch("", False),
    RegexpMatch("short", True, ("", "short")),
    RegexpMatch("simple/name", True, ("simple", "name")),
    RegexpMatch("library/ubuntu", True, ("library", "ubuntu")),
    RegexpMatch("docker/stevvooe/app", True, ("docker", "stevvooe/app")),
    RegexpMatch(
        "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
        True,
        ("aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb"),
    ),
    RegexpMatch("aa/aa/bb/bb/bb", True, ("aa", "aa/bb/bb/bb")),
    RegexpMatch("a/a/a/a", True, ("a", "a/a/a")),
    RegexpMatch("a/a/a/a/", False),
    RegexpMatch("a//a/a", False),
    RegexpMatch("a", True, ("", "a")),
    RegexpMatch("a/aa", True, ("a", "aa")),
    RegexpMatch("a/aa/a", True, ("a", "aa/a")),
    RegexpMatch("foo.com", True, ("", "foo.com")),
    RegexpMatch("foo.com/", False),
    RegexpMatch("foo.com:8080/bar", True, ("foo.com:8080", "bar")),
    RegexpMatch("foo.com:http/bar", False),
    RegexpMatch("foo.com/bar", True, ("foo.com", "bar")),
    RegexpMatch("foo.com/bar/baz", True, ("foo.com", "bar/baz")),
    RegexpMatch("localhost:8080/bar", True, ("localhost:8080", "bar")),
    RegexpMatch("sub-dom1.foo.com/bar/baz/quux", True, ("sub-dom1.foo.com", "bar/baz/quux")),
    RegexpMatch("blog.foo.com/bar/baz", True, ("blog.foo.com", "bar/baz")),
    RegexpMatch("a^a", False),
    RegexpMatch("aa/asdf$$^/aa", False),
    RegexpMatch("asdf$$^/aa", False),
    RegexpMatch("aa-a/a", True, ("aa-a", "a")),
    RegexpMatch("a/" * 128 + "a", True, ("a", "a/" * 127 + "a")),
    RegexpMatch("a-/a/a/a", False),
    RegexpMatch("foo.com/a-/a/a", False),
    RegexpMatch("-foo/bar", False),
    RegexpMatch("foo/bar-", False),
    RegexpMatch("foo-/bar", False),
    RegexpMatch("foo/-bar", False),
    RegexpMatch("_foo/bar", False),
    RegexpMatch("foo_bar", True, ("", "foo_bar")),
    RegexpMatch("foo_bar.com", True, ("", "foo_bar.com")),
    RegexpMatch("foo_bar.com:8080", False),
    RegexpMatch("foo_bar.com:8080/app", False),
    RegexpMatch("foo.com/foo_bar", True, ("foo.com", "foo_bar")),
    RegexpMatch("____/____", False),
    RegexpMatch("_docker/_docker", False),
    RegexpMatch("docker_/docker_", False),
    RegexpMatch("b.gcr.io/test.example.com/my-app", True, ("b.gcr.io", "test.example.com/my-app")),
    RegexpMatch("xn--n3h.com/myimage", True, ("xn--n3h.com", "myimage")),  # ☃.com
    RegexpMatch("xn--7o8h.com/myimage", True, ("xn--7o8h.com", "myimage")),  # 🐳.com
    RegexpMatch("example.com/xn--7o8h.com/myimage", True, ("example.com", "xn--7o8h.com/myimage")),
    RegexpMatch(
        "example.com/some_separator__underscore/myimage",
        True,
        ("example.com", "some_separator__underscore/myimage"),
    ),
    RegexpMatch("example.com/__underscore/myimage", False),
    RegexpMatch("example.com/..dots/myimage", False),
    RegexpMatch("example.com/.dots/myimage", False),
    RegexpMatch("example.com/nodouble..dots/myimage", False),
    RegexpMatch("example.com/nodouble..dots/myimage", False),
    RegexpMatch("docker./docker", False),
    RegexpMatch(".docker/docker", False),
    RegexpMatch("docker-/docker", False),
    RegexpMatch("-docker/docker", False),
    RegexpMatch("do..cker/docker", False),
    RegexpMatch("do__cker:8080/docker", False),
    RegexpMatch("do__cker/docker", True, ("", "do__cker/docker")),
    RegexpMatch("b.gcr.io/test.example.com/my-app", True, ("b.gcr.io", "test.example.com/my-app")),
    RegexpMatch(
        "registry.io/foo/project--id.module--name.ver---sion--name",
        True,
        ("registry.io", "foo/project--id.module--name.ver---sion--name"),
    ),
    RegexpMatch("Asdf.com/foo/bar", True),  # uppercase character in hostname
    RegexpMatch("Foo/FarB", False),  # uppercase characters in remote name
]

_BE17 = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"

# TestReferenceRegexp: ReferenceRegexp, three groups (name, tag, digest).
REFERENCE_REGEXP = [
    RegexpMatch("registry.com:8080/myapp:tag", True, ("registry.com:8080/myapp", "tag", "")),
    RegexpMatch(f"registry.com:8080/myapp@{_BE17}", True, ("registry.com:8080/myapp", "", _BE17)),
    RegexpMatch(
        f"registry.com:8080/myapp:tag2@{_BE17}", True, ("registry.com:8080/myapp", "tag2", _BE17)
    ),
    RegexpMatch("registry.com:8080/myapp@sha256:badbadbadbad", False),
    RegexpMatch("registry.com:8080/myapp:invalid~tag", False),
    RegexpMatch("bad_hostname.com:8080/myapp:tag", False),
    # localhost treated as name, missing tag with 8080 as tag
    RegexpMatch(f"localhost:8080@{_BE17}", True, ("localhost", "8080", _BE17)),
    RegexpMatch(f"localhost:8080/name@{_BE17}", True, ("localhost:8080/name", "", _BE17)),
    RegexpMatch(f"localhost:http/name@{_BE17}", False),
    # localhost will be treated as an image name without a host
    RegexpMatch(f"localhost@{_BE17}", True, ("localhost", "", _BE17)),
    RegexpMatch("registry.com:8080/myapp@bad", False),
    RegexpMatch("registry.com:8080/myapp@2bad", False),  # TODO(dmcgowan) in Go: support this
]

# TestIdentifierRegexp: (input, match)
IDENTIFIER_REGEXP = [
    ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", True),
    ("7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C", False),
    ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf", False),
    ("sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", False),
    ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482", False),
]

# ================================ go-digest digest_test.go ========================================


class DigestCase(NamedTuple):
    input: str
    err: str | None  # Go's expectation (with sha384 and blake3 registered, as that test does)
    algorithm: str = ""
    encoded: str = ""
    ours: str | None = "same"  # our error where it differs: only sha256 and sha512 are registered


_SHA384_HEX = (
    "d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596bf9"
    "c4a9cf8072c9d5bad76e19af801d"
)

# TestParseDigest
PARSE_DIGEST = [
    DigestCase(
        "sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b",
        None,
        "sha256",
        "e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b",
    ),
    DigestCase(f"sha384:{_SHA384_HEX}", None, "sha384", _SHA384_HEX, ours=ERR_DIGEST_UNSUPPORTED),
    DigestCase(
        "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        None,
        "blake3",
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ours=ERR_DIGEST_UNSUPPORTED,
    ),
    DigestCase("", ERR_DIGEST_INVALID_FORMAT),  # empty
    DigestCase("     ", ERR_DIGEST_INVALID_FORMAT),  # whitespace only
    DigestCase("sha256:", ERR_DIGEST_INVALID_FORMAT),  # empty hex
    DigestCase("sha256:" + " " * 64, ERR_DIGEST_INVALID_FORMAT),  # right length, whitespace
    DigestCase(":", ERR_DIGEST_INVALID_FORMAT),  # empty hex
    DigestCase("d41d8cd98f00b204e9800998ecf8427e", ERR_DIGEST_INVALID_FORMAT),  # just hex
    DigestCase("sha256:d41d8cd98f00b204e9800m98ecf8427e", ERR_DIGEST_INVALID_LENGTH),  # not hex
    DigestCase("sha256:abcdef0123456789", ERR_DIGEST_INVALID_LENGTH),  # too short
    DigestCase(  # too short (from a different algorithm)
        "sha512:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        ERR_DIGEST_INVALID_LENGTH,
    ),
    DigestCase(  # too short (from a different algorithm)
        "blake3:abcdef0123456789abcdef0123456789abcdef01234",
        ERR_DIGEST_INVALID_LENGTH,
        ours=ERR_DIGEST_UNSUPPORTED,
    ),
    DigestCase("foo:d41d8cd98f00b204e9800998ecf8427e", ERR_DIGEST_UNSUPPORTED),
    DigestCase(f"sha384__foo+bar:{_SHA384_HEX}", ERR_DIGEST_INVALID_FORMAT),  # repeated separators
    DigestCase(  # parses, but the algorithm is not supported
        f"sha384.foo+bar:{_SHA384_HEX}", ERR_DIGEST_UNSUPPORTED, "sha384.foo+bar", _SHA384_HEX
    ),
    DigestCase(
        f"sha384_foo+bar:{_SHA384_HEX}", ERR_DIGEST_UNSUPPORTED, "sha384_foo+bar", _SHA384_HEX
    ),
    DigestCase(
        "sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        ERR_DIGEST_UNSUPPORTED,
        "sha256+b64",
        "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
    ),
    DigestCase(
        "sha256:E58FCF7418D4390DEC8E8FB69D88C06EC07039D651FEDD3AA72AF9972E7D046B",
        ERR_DIGEST_INVALID_FORMAT,
    ),
]

# ================================ ours: edge cases beyond the Go tables ===========================

_ALPINE_DIGEST = "sha256:" + "0123456789abcdef" * 4


class EdgeCase(NamedTuple):
    input: str
    # Expected fields of parse_reference (registry, repository, tag, digest, normalized, familiar)
    # when it parses; else the substrings its error message must contain.
    fields: dict[str, str | None] | None = None
    error: tuple[str, ...] = ()


EDGE_CASES = [
    EdgeCase("nginx@1.24", error=("looks like a tag", "nginx:1.24")),
    EdgeCase("nginx@latest", error=("looks like a tag", "nginx:latest")),
    EdgeCase("alpine\n", error=("line break", "'alpine\\n'")),
    EdgeCase("alpine:latest\n", error=("line break",)),
    EdgeCase("alpine\r", error=("line break",)),
    EdgeCase("\nalpine", error=("line break",)),
    EdgeCase(" alpine", error=("whitespace",)),
    EdgeCase("al pine", error=("whitespace",)),
    EdgeCase("alpine\x00", error=("control character",)),
    EdgeCase("ALPINE", error=(ERR_NAME_CONTAINS_UPPERCASE,)),
    EdgeCase("Alpine:3.19", error=(ERR_NAME_CONTAINS_UPPERCASE,)),
    EdgeCase("\uff41\uff4c\uff50\uff49\uff4e\uff45", error=("non-ASCII", "U+FF41")),  # fullwidth
    EdgeCase("\u0430lpine", error=("non-ASCII", "U+0430", "CYRILLIC")),  # Cyrillic a
    EdgeCase("alpin\u0435:3", error=("non-ASCII", "U+0435")),  # Cyrillic e
    EdgeCase("\u212aafka", error=("non-ASCII", "KELVIN")),  # lowercases to ASCII 'k' in Go
    EdgeCase("alpine:3.19\u00a0", error=("non-ASCII",)),  # no-break space
    EdgeCase(f"alpine@sha256:{'A' * 64}", error=(ERR_DIGEST_INVALID_FORMAT, "uppercase")),
    EdgeCase(f"alpine@sha384:{_SHA384_HEX}", error=(ERR_DIGEST_UNSUPPORTED, "sha384")),
    # Go checks the text before the first ':' for uppercase, digest algorithm included.
    EdgeCase(f"alpine@SHA256:{'a' * 64}", error=(ERR_NAME_CONTAINS_UPPERCASE,)),
    EdgeCase("alpine@sha256:abc", error=(ERR_DIGEST_INVALID_LENGTH,)),
    EdgeCase(f"alpine@sha256:{'a' * 63}", error=(ERR_DIGEST_INVALID_LENGTH,)),
    EdgeCase(f"alpine@@{_ALPINE_DIGEST}", error=("more than one '@'",)),
    EdgeCase(F64, error=("cannot specify 64-byte hexadecimal strings",)),
    EdgeCase("a" * 256, error=(ERR_NAME_TOO_LONG,)),
    # The limit is on the path, and Docker Hub names count their "library/" prefix.
    EdgeCase(
        "a" * 247,
        {"registry": "docker.io", "repository": "library/" + "a" * 247, "familiar": "a" * 247},
    ),
    EdgeCase("a" * 248, error=(ERR_NAME_TOO_LONG,)),
    EdgeCase("example.com/" + "a" * 256, error=(ERR_NAME_TOO_LONG,)),
    EdgeCase("alpine:" + "t" * 128, {"tag": "t" * 128}),
    EdgeCase("alpine:" + "t" * 129, error=("invalid tag",)),
    EdgeCase("alpine:", error=("invalid tag",)),
    EdgeCase("alpine:.x", error=("invalid tag",)),
    EdgeCase("alpine:_x", {"tag": "_x"}),
    EdgeCase("alpine:-x", error=("invalid tag",)),
    EdgeCase("https://ghcr.io/owner/app", error=("'https://'", "not a URL")),
    EdgeCase("http://ghcr.io/owner/app", error=("'http://'",)),
    EdgeCase("", error=("empty",)),
    EdgeCase(
        "[::1]:5000/foo",
        {
            "registry": "[::1]:5000",
            "repository": "foo",
            "tag": None,
            "normalized": "[::1]:5000/foo:latest",
            "familiar": "[::1]:5000/foo",
        },
    ),
    EdgeCase("[::1]/foo", {"registry": "[::1]", "repository": "foo"}),
    EdgeCase("localhost/foo", {"registry": "localhost", "repository": "foo"}),
    EdgeCase(
        "localhost:5000/foo:1", {"registry": "localhost:5000", "familiar": "localhost:5000/foo:1"}
    ),
    # Go: ":" makes the first component a host, and hosts may have uppercase letters.
    EdgeCase("Localhost:5000/foo", {"registry": "Localhost:5000", "repository": "foo"}),
    EdgeCase("LOCALHOST/foo", {"registry": "LOCALHOST", "repository": "foo"}),
    # A single component is always a Docker Hub image, even "localhost" (Go's FIXME) ...
    EdgeCase("localhost", {"registry": "docker.io", "repository": "library/localhost"}),
    # ... so "localhost:5000" is the image "localhost" at tag "5000".
    EdgeCase("localhost:5000", {"repository": "library/localhost", "tag": "5000"}),
    EdgeCase("example.com", {"registry": "docker.io", "repository": "library/example.com"}),
    EdgeCase("index.docker.io/foo", {"registry": "docker.io", "repository": "library/foo"}),
    EdgeCase(
        "docker.io/foo",
        {"registry": "docker.io", "repository": "library/foo", "familiar": "foo"},
    ),
    EdgeCase(
        "docker.io/library/alpine:latest",
        {"normalized": "docker.io/library/alpine:latest", "familiar": "alpine:latest"},
    ),
    EdgeCase("library/alpine", {"normalized": "docker.io/library/alpine:latest"}),
    EdgeCase("alpine", {"normalized": "docker.io/library/alpine:latest", "familiar": "alpine"}),
    EdgeCase(
        f"ghcr.io/owner/app:1.0@{_ALPINE_DIGEST}",
        {
            "registry": "ghcr.io",
            "repository": "owner/app",
            "tag": "1.0",
            "digest": _ALPINE_DIGEST,
            "normalized": f"ghcr.io/owner/app:1.0@{_ALPINE_DIGEST}",
            "familiar": f"ghcr.io/owner/app:1.0@{_ALPINE_DIGEST}",
        },
    ),
    EdgeCase(
        f"user/app@{_ALPINE_DIGEST}",
        {"tag": None, "normalized": f"docker.io/user/app@{_ALPINE_DIGEST}"},
    ),
    # Deviation 2: Go returns a reference with no domain here.
    EdgeCase("foo_bar.com/app", error=("'foo_bar.com'", "not a valid host name")),
    # Deviation 5: Go's familiar form "localhost/app" would name another registry.
    EdgeCase("docker.io/localhost/app", {"familiar": "docker.io/localhost/app"}),
    EdgeCase("docker.io/a.b/app", {"familiar": "docker.io/a.b/app"}),
    EdgeCase("docker.io/library/a.b", {"familiar": "a.b"}),
]
