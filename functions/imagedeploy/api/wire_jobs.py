"""Render's shapes of one-off jobs (``job``, ``jobWithCursor``) and service instances
(``serviceInstance``)."""

from __future__ import annotations

from imagedeploy.api.wire import JSON, ListPosition, ending_json, wrap_items
from imagedeploy.domain.jobs import OneOffJob
from imagedeploy.domain.timestamps import rfc3339
from imagedeploy.ports import Instance, Page


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
    return body | ending_json(job.finished_at, job.exit_code, job.reason)


def job_list_json(page: Page[OneOffJob], position: ListPosition) -> list[JSON]:
    """``[{"job": {...}, "cursor": "..."}]`` (Render ``jobWithCursor``)."""
    return wrap_items("job", (job_json(job) for job in page.items), page, position)


def instance_list_json(instances: list[Instance]) -> list[JSON]:
    """Render ``serviceInstance`` items (a plain array, no cursors)."""
    return [{"id": i.id, "createdAt": rfc3339(i.created_at)} for i in instances]
