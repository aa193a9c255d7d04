"""The dashboard behind the AWS HTTP API: the API Lambda's handler serves the same pages (the
same resolver), with a Secure cookie since the API is https, under moto."""

from __future__ import annotations

from typing import Any

import pytest

from devkit.dashboard import FormClient
from devkit.lambda_stack import WEB_DETAILS, LambdaContext, Stack, create_credential, create_service
from imagedeploy.handlers import api

pytestmark = pytest.mark.integration


def _handler(event: Any, _context: Any) -> dict[str, Any]:
    result: dict[str, Any] = api.lambda_handler(dict(event), LambdaContext())
    return result


def test_the_api_lambda_serves_the_dashboard(stack: Stack) -> None:
    credential = create_credential(stack)
    created = create_service(stack, "web_service", WEB_DETAILS, credential_id=credential["id"])
    browser = FormClient(_handler)
    assert browser.get("/").headers["location"] == "/dashboard/sign-in"
    signed_in = browser.sign_in(stack.api_key)
    assert signed_in.status == 303
    cookie = signed_in.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and stack.api_key not in cookie
    page = browser.get("/dashboard/services")
    assert page.status == 200 and created["service"]["name"] in page.text
    service = browser.get(f"/dashboard/services/{created['service']['id']}")
    assert service.status == 200 and "Deploys" in service.text
    made = browser.post(
        "/dashboard/credentials",
        {"registry": "DOCKER", "name": "hub", "username": "me", "token": "dckr_s3cret"},
    )
    assert made.status == 303
    listed = browser.get("/dashboard/credentials").text
    assert "hub" in listed and "dckr_s3cret" not in listed
