"""OCI distribution client on httpx: the preflight every deploy starts with.

Resolves a reference to a digest, chooses linux/amd64, checks the size, and checks that a digest
still exists, without downloading layers. Every failure is an ``ImagePullError`` with a
``PullFailureReason``.
"""

from imagedeploy.registry.client import PreflightResult, RegistryClient

__all__ = ["PreflightResult", "RegistryClient"]
