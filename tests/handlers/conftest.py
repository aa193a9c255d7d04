"""The Lambda stack under moto (``devkit.lambda_stack`` says what is real and what is fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.lambda_stack import Stack, lambda_stack
from devkit.moto_aws import Aws, Network, create_network, mocked_aws


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mocked_aws() as made:
        yield made


@pytest.fixture
def network(aws: Aws) -> Network:
    return create_network(aws)


@pytest.fixture
def stack(aws: Aws, network: Network) -> Iterator[Stack]:
    with lambda_stack(aws, network) as made:
        yield made
