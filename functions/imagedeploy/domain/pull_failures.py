"""Why ECS could not pull a task's image, from the task's ``stoppedReason`` text.

ECS reports pull failures as free text ("CannotPullContainerError: ...", "ResourceInitializationError:
unable to pull secrets or registry auth: ..."). The same prefix covers a wrong token, a missing
image and a task that cannot reach the registry at all, so the reason is decided by the details,
network failures first: "unable to pull secrets or registry auth ... i/o timeout" is a subnet
without egress, not a bad token.
"""

from __future__ import annotations

from imagedeploy.domain.errors import PullFailureReason

#: Said to the user when a task could not reach the registry (or ECR / Secrets Manager).
EGRESS_HINT = (
    "The task could not reach the registry: its subnet needs a way out to the internet - a public "
    "IP (TaskAssignPublicIp=ENABLED in a public subnet), a NAT gateway, or VPC endpoints for "
    "ECR (api, dkr), S3 and Secrets Manager - and its security group must allow outbound HTTPS."
)

_RATE_LIMITED = ("toomanyrequests", "too many requests", "rate limit", " 429")
_NETWORK = (
    "i/o timeout",
    "context deadline exceeded",
    "request canceled",
    "client.timeout exceeded",
    "tls handshake timeout",
    "dial tcp",
    "connection refused",
    "connection reset",
    "no such host",
    "network is unreachable",
    "connection issue between the task",
    "signal: killed",  # "pull command failed: : signal: killed": the pull ran out of time
)
_UNAUTHORIZED = (
    "unauthorized",
    "authentication required",
    "access denied",
    "accessdenied",
    "not authorized",
    "denied",
    "forbidden",
    " 401",
    " 403",
    "no basic auth credentials",
)
_NOT_FOUND = ("not found", "manifest unknown", "does not exist", "name unknown")


def pull_failure_reason(text: str) -> PullFailureReason:
    """The reason of a pull failure, from ECS's stop text (any case)."""
    lowered = text.lower()
    if any(marker in lowered for marker in _RATE_LIMITED):
        return PullFailureReason.RATE_LIMITED
    if any(marker in lowered for marker in _NETWORK):
        return PullFailureReason.REGISTRY_UNAVAILABLE
    if any(marker in lowered for marker in _UNAUTHORIZED):
        return PullFailureReason.UNAUTHORIZED
    if any(marker in lowered for marker in _NOT_FOUND):
        return PullFailureReason.NOT_FOUND
    if "registry auth" in lowered:  # "unable to pull secrets or registry auth" and nothing more
        return PullFailureReason.UNAUTHORIZED
    return PullFailureReason.REGISTRY_UNAVAILABLE


def pull_failure_message(reason: PullFailureReason, text: str) -> str:
    """What the user reads: ECS's text, plus how to fix egress when the registry was unreachable."""
    if reason is PullFailureReason.REGISTRY_UNAVAILABLE:
        return f"{text} - {EGRESS_HINT}" if text else EGRESS_HINT
    return text
