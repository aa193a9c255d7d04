"""The CLI's commands against the real API resolver (in process, over WSGI), for the answers a
live ``serve`` gives only by timing: a deploy created while another is in progress is queued,
and Render answers that with 202 and no body."""

from __future__ import annotations

import argparse
import io
import json

import httpx
import pytest

from devkit.apigw import API_KEY, BASE, api_over
from devkit.world import World
from imagedeploy.api.wsgi import wsgi_app
from imagedeploy.cli import remote
from imagedeploy.client.api import ApiClient
from imagedeploy.domain.deploys import DeployStatus

pytestmark = pytest.mark.integration


def test_deploys_create_behind_a_deploy_in_progress_reports_the_queued_deploy(
    world: World,
) -> None:
    api = api_over(world)
    client = ApiClient(BASE, API_KEY, transport=httpx.WSGITransport(app=wsgi_app(api.resolver)))
    created = world.create()  # its first deploy is in progress: nothing has run its jobs
    service_id = created.service.id
    answer = api.call("POST", f"/v1/services/{service_id}/deploys", {})
    assert answer.status == 202  # what the CLI meets: Render's queued deploy, no body

    out = io.StringIO()
    args = argparse.Namespace(service=service_id, image=None, wait=False, output="json")
    assert remote.deploys_create(client, args, out) == 0

    shown = json.loads(out.getvalue())
    newest = world.store.list_deploys(service_id, 1).items[0]
    assert shown["id"] == newest.id != created.deploy.id
    assert newest.status is DeployStatus.QUEUED
    assert shown["status"] == "queued"
