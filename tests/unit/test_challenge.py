"""WWW-Authenticate parsing, including the shapes real registries send."""

import pytest

from imagedeploy.registry.challenge import Challenge, parse_challenges

pytestmark = pytest.mark.unit


def test_docker_hub_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:samalba/my-app:pull,push",
            },
        )
    ]


def test_several_challenges_with_commas_inside_quotes() -> None:
    header = (
        'Basic realm="a, b", Bearer realm="https://t/token",error="insufficient_scope",'
        'scope="repository:a:pull,push"'
    )
    basic, bearer = parse_challenges(header)
    assert basic == Challenge("basic", {"realm": "a, b"})
    assert bearer.get("error") == "insufficient_scope"
    assert bearer.get("scope") == "repository:a:pull,push"


def test_google_artifact_registry_challenge_has_only_a_realm() -> None:
    (challenge,) = parse_challenges('Bearer realm="https://us-docker.pkg.dev/v2/token"')
    assert challenge.params == {"realm": "https://us-docker.pkg.dev/v2/token"}
    assert challenge.get("service") is None


def test_ecr_basic_challenge() -> None:
    header = 'Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"'
    (challenge,) = parse_challenges(header)
    assert challenge.scheme == "basic"
    assert challenge.get("service") == "ecr.amazonaws.com"


def test_scheme_and_keys_are_case_insensitive_values_are_not() -> None:
    (challenge,) = parse_challenges('BEARER Realm="HTTPS://X/Token", Service=Reg')
    assert challenge == Challenge("bearer", {"realm": "HTTPS://X/Token", "service": "Reg"})


def test_escaped_quotes_and_spaces_around_equals() -> None:
    (challenge,) = parse_challenges('Bearer realm = "a \\"quoted\\" realm" , service=s')
    assert challenge.params == {"realm": 'a "quoted" realm', "service": "s"}


def test_several_header_values() -> None:
    challenges = parse_challenges(['Basic realm="r"', 'Bearer realm="https://t"'])
    assert [c.scheme for c in challenges] == ["basic", "bearer"]


def test_bare_scheme_and_token68() -> None:
    assert parse_challenges("Basic") == [Challenge("basic", {})]
    assert parse_challenges("Negotiate abc==, Basic realm=x") == [
        Challenge("negotiate", {}),
        Challenge("basic", {"realm": "x"}),
    ]


@pytest.mark.parametrize("header", ["", ",,,", '"', "=", 'Bearer realm="unterminated'])
def test_malformed_headers_do_not_raise(header: str) -> None:
    parse_challenges(header)  # the point: no exception on whatever a registry sends


def test_first_duplicate_parameter_wins() -> None:
    (challenge,) = parse_challenges('Bearer realm="first",realm="second"')
    assert challenge.get("realm") == "first"
