"""``SqsJobs``: the ``Jobs`` port on an SQS queue (the worker Lambda consumes it).

One message per job, the body ``{"kind": ..., "subject": ...}``. SQS delivers at least once,
which the port promises and every job handler tolerates; a job that keeps failing goes to the
queue's dead-letter queue after ``maxReceiveCount`` receives (``template.yaml``).
"""

from __future__ import annotations

import json
from typing import Any

from imagedeploy.adapters.aws.clients import lazy_client
from imagedeploy.ports import Job

__all__ = ["SqsJobs", "job_body", "job_from_body"]

MAX_DELAY_SECONDS = 900  # SQS's limit on DelaySeconds


def job_body(job: Job) -> str:
    return json.dumps({"kind": job.kind, "subject": job.subject}, separators=(",", ":"))


def job_from_body(body: str) -> Job:
    """The job of a message body; ``ValueError`` for anything else."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a job message is a JSON object")
    kind, subject = data.get("kind"), data.get("subject")
    if not isinstance(kind, str) or not isinstance(subject, str) or not kind or not subject:
        raise ValueError("a job message needs string 'kind' and 'subject'")
    return Job(kind, subject)


class SqsJobs:
    """``client`` is a boto3 SQS client (created lazily with the default session when None)."""

    def __init__(self, queue_url: str, *, client: Any = None) -> None:
        if not queue_url:
            raise ValueError("SqsJobs needs a queue URL")
        self.queue_url = queue_url
        self._client = lazy_client("sqs", client)

    def __repr__(self) -> str:
        return f"SqsJobs({self.queue_url!r})"

    @property
    def client(self) -> Any:
        return self._client()

    def enqueue(self, job: Job, delay_seconds: int = 0) -> None:
        extra = {"DelaySeconds": min(MAX_DELAY_SECONDS, delay_seconds)} if delay_seconds > 0 else {}
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=job_body(job), **extra)
