"""Render's shapes of one-off jobs (``job``, ``jobWithCursor``) and service instances
(``serviceInstance``)."""

from __future__ import annotations

from typing import Any

from imagedeploy.api.wire import ListPosition, item_cursors
from imagedeploy.domain.jobs import OneOffJob
from imagedeploy.domain.timestamps import rfc3339
from imagedeploy.ports import Instance, Page

JSON = dict[str, Any]


def job_json(job: OneOffJob) -> JSON:
    """Render ``job``: ``planId`` is the plan's name here (``starter`` …). ``exitCode`` and
    ``reason`` are extensions."""
    body: JSON = {
        "id": job.id,
        "serviceId": job.service_id,
        "startCommand": job.start_command,
        "planId": job.plan.value,
        "status": job.status.value,
        "createdAt": rfc3339(job.created_at),
    }
    if job.started_at is not None:
        body["startedAt"] = rfc3339(job.started_at)
    if job.finished_at is not None:
        body["finishedAt"] = rfc3339(job.finished_at)
    if job.exit_code is not None:
        body["exitCode"] = job.exit_code  # extension
    if job.reason:
        body["reason"] = job.reason  # extension
    return body


def job_list_json(page: Page[OneOffJob], position: ListPosition) -> list[JSON]:
    """``[{"job": {...}, "cursor": "..."}]`` (Render ``jobWithCursor``)."""
    cursors = item_cursors(page, position)
    return [
        {"job": job_json(job), "cursor": cursor}
        for job, cursor in zip(page.items, cursors, strict=True)
    ]


def instance_list_json(instances: list[Instance]) -> list[JSON]:
    """Render ``serviceInstance`` items (a plain array, no cursors)."""
    return [{"id": i.id, "createdAt": rfc3339(i.created_at)} for i in instances]
