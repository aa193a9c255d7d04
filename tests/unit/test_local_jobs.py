"""``ThreadJobs``: retries with backoff, dead jobs, per-subject serialisation, stop semantics.
Real threads; synchronisation through events and ``join_idle``, never sleeps."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from imagedeploy.adapters.local.jobs import ThreadJobs, exponential_backoff
from imagedeploy.domain.errors import Conflict
from imagedeploy.ports import Job

pytestmark = pytest.mark.unit

WAIT = 10.0  # seconds a test waits for something that should happen at once


def no_backoff(attempt: int) -> float:
    return 0.0


class Recorder:
    """A handler that records what ran and detects two jobs of one subject running at once."""

    def __init__(self, behaviour: Callable[[Job], None] | None = None) -> None:
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.overlaps: list[Job] = []
        self.ran: list[Job] = []
        self.max_parallel = 0

    def __call__(self, job: Job) -> None:
        with self.lock:
            if self.active.get(job.subject):
                self.overlaps.append(job)
            self.active[job.subject] = self.active.get(job.subject, 0) + 1
            self.max_parallel = max(self.max_parallel, sum(self.active.values()))
        try:
            if self.behaviour is not None:
                self.behaviour(job)
        finally:
            with self.lock:
                self.active[job.subject] -= 1
                self.ran.append(job)


@pytest.fixture
def make_jobs() -> Iterator[Callable[..., ThreadJobs]]:
    made: list[ThreadJobs] = []

    def make(handler: Callable[[Job], None], **options: object) -> ThreadJobs:
        options.setdefault("backoff", no_backoff)
        jobs = ThreadJobs(handler, **options)  # type: ignore[arg-type]
        made.append(jobs)
        return jobs

    yield make
    for jobs in made:
        jobs.stop(timeout=WAIT)


def test_runs_jobs_enqueued_before_and_after_start(make_jobs: Callable[..., ThreadJobs]) -> None:
    recorder = Recorder()
    jobs = make_jobs(recorder)
    jobs.enqueue(Job("begin", "dep-1"))
    jobs.start()
    jobs.enqueue(Job("begin", "dep-2"))
    assert jobs.join_idle(WAIT)
    assert sorted(job.subject for job in recorder.ran) == ["dep-1", "dep-2"]


def test_a_failing_job_is_retried_with_backoff_until_it_succeeds(
    make_jobs: Callable[..., ThreadJobs],
) -> None:
    failures = {"dep-1": 2}
    delays: list[int] = []

    def flaky(job: Job) -> None:
        if failures[job.subject] > 0:
            failures[job.subject] -= 1
            raise ConnectionError("registry unreachable")

    def backoff(attempt: int) -> float:
        delays.append(attempt)
        return 0.0

    recorder = Recorder(flaky)
    jobs = make_jobs(recorder, backoff=backoff)
    jobs.start()
    jobs.enqueue(Job("preflight", "dep-1"))
    assert jobs.join_idle(WAIT)
    assert len(recorder.ran) == 3
    assert delays == [1, 2]


def test_a_job_failing_every_attempt_is_logged_dead_and_dropped(
    make_jobs: Callable[..., ThreadJobs], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(job: Job) -> None:
        raise RuntimeError("token tok-s3cr3t rejected")  # a message that must not be logged

    recorder = Recorder(broken)
    jobs = make_jobs(recorder, max_attempts=3)
    caplog.set_level(logging.INFO, logger="imagedeploy.adapters.local.jobs")
    jobs.start()
    jobs.enqueue(Job("preflight", "dep-1"))
    assert jobs.join_idle(WAIT)
    assert len(recorder.ran) == 3
    assert jobs.pending() == []
    dead = [r for r in caplog.records if r.message.startswith("job dead")]
    assert len(dead) == 1
    assert dead[0].levelno == logging.ERROR
    assert (dead[0].job_kind, dead[0].subject, dead[0].attempts) == ("preflight", "dep-1", 3)  # type: ignore[attr-defined]
    assert dead[0].error_type == "RuntimeError"  # type: ignore[attr-defined]
    assert all("s3cr3t" not in str(vars(record)) for record in caplog.records)


def test_our_own_error_messages_are_logged(
    make_jobs: Callable[..., ThreadJobs], caplog: pytest.LogCaptureFixture
) -> None:
    def conflicting(job: Job) -> None:
        raise Conflict("service srv-1 is suspended")

    jobs = make_jobs(Recorder(conflicting), max_attempts=1)
    caplog.set_level(logging.ERROR, logger="imagedeploy.adapters.local.jobs")
    jobs.start()
    jobs.enqueue(Job("begin", "dep-1"))
    assert jobs.join_idle(WAIT)
    (record,) = caplog.records
    assert record.error == "service srv-1 is suspended"  # type: ignore[attr-defined]


def test_a_job_backing_off_holds_no_worker_and_no_other_subject(
    make_jobs: Callable[..., ThreadJobs],
) -> None:
    other_ran = threading.Event()

    def behaviour(job: Job) -> None:
        if job.subject == "dep-bad":
            raise ConnectionError("down")
        other_ran.set()

    jobs = make_jobs(Recorder(behaviour), workers=1, backoff=lambda attempt: 3600.0)
    jobs.start()
    jobs.enqueue(Job("preflight", "dep-bad"))
    jobs.enqueue(Job("preflight", "dep-good"))
    assert other_ran.wait(WAIT)
    assert not jobs.join_idle(0)  # the failed one waits for its retry
    assert jobs.pending() == [Job("preflight", "dep-bad")]


def test_jobs_of_one_subject_never_overlap_while_other_subjects_run_in_parallel(
    make_jobs: Callable[..., ThreadJobs],
) -> None:
    first_started = threading.Event()
    release_first = threading.Event()
    other_done = threading.Event()

    def behaviour(job: Job) -> None:
        if job == Job("begin", "dep-x"):
            first_started.set()
            assert release_first.wait(WAIT)
        elif job.subject == "dep-y":
            other_done.set()

    recorder = Recorder(behaviour)
    jobs = make_jobs(recorder, workers=2)
    jobs.start()
    jobs.enqueue(Job("begin", "dep-x"))
    assert first_started.wait(WAIT)
    jobs.enqueue(Job("preflight", "dep-x"))  # ahead of dep-y in the queue
    jobs.enqueue(Job("begin", "dep-y"))
    # The free worker skipped dep-x's second job (its subject is busy) and ran dep-y's: a plain
    # FIFO would have started dep-x's second job first, overlapping the first.
    assert other_done.wait(WAIT)
    assert Job("preflight", "dep-x") not in recorder.ran
    assert jobs.pending() == [Job("preflight", "dep-x")]
    release_first.set()
    assert jobs.join_idle(WAIT)
    assert recorder.overlaps == []
    x_jobs = [job for job in recorder.ran if job.subject == "dep-x"]
    assert x_jobs == [Job("begin", "dep-x"), Job("preflight", "dep-x")]  # in order


def test_many_jobs_on_few_subjects_never_overlap(make_jobs: Callable[..., ThreadJobs]) -> None:
    recorder = Recorder()
    jobs = make_jobs(recorder, workers=6)
    expected = [Job(f"kind-{n}", f"dep-{n % 3}") for n in range(300)]
    for job in expected:
        jobs.enqueue(job)
    jobs.start()
    assert jobs.join_idle(WAIT)
    assert recorder.overlaps == []
    assert sorted(recorder.ran, key=str) == sorted(expected, key=str)
    for subject in ("dep-0", "dep-1", "dep-2"):  # each subject's jobs ran in order
        ran = [job for job in recorder.ran if job.subject == subject]
        assert ran == [job for job in expected if job.subject == subject]


def test_an_identical_job_already_waiting_is_not_queued_twice(
    make_jobs: Callable[..., ThreadJobs],
) -> None:
    recorder = Recorder()
    jobs = make_jobs(recorder)
    for _ in range(3):
        jobs.enqueue(Job("preflight", "dep-1"))
    jobs.enqueue(Job("begin", "dep-1"))
    assert jobs.pending() == [Job("preflight", "dep-1"), Job("begin", "dep-1")]
    jobs.start()
    assert jobs.join_idle(WAIT)
    assert recorder.ran == [Job("preflight", "dep-1"), Job("begin", "dep-1")]


def test_a_job_enqueued_while_its_twin_runs_runs_again(
    make_jobs: Callable[..., ThreadJobs],
) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[Job] = []

    def behaviour(job: Job) -> None:
        calls.append(job)
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT)

    jobs = make_jobs(Recorder(behaviour))
    jobs.start()
    jobs.enqueue(Job("preflight", "dep-1"))
    assert started.wait(WAIT)
    jobs.enqueue(Job("preflight", "dep-1"))  # new work: the running one may have read old state
    release.set()
    assert jobs.join_idle(WAIT)
    assert calls == [Job("preflight", "dep-1")] * 2


def test_stop_finishes_running_jobs_and_leaves_queued_ones(
    make_jobs: Callable[..., ThreadJobs],
) -> None:
    started, release = threading.Event(), threading.Event()

    def behaviour(job: Job) -> None:
        if job.subject == "dep-slow":
            started.set()
            assert release.wait(WAIT)

    recorder = Recorder(behaviour)
    jobs = make_jobs(recorder, workers=1)
    jobs.start()
    jobs.enqueue(Job("begin", "dep-slow"))
    assert started.wait(WAIT)
    jobs.enqueue(Job("begin", "dep-queued"))

    assert jobs.stop(timeout=0) is False  # the running job is not interrupted
    release.set()
    assert jobs.stop(timeout=WAIT) is True
    assert recorder.ran == [Job("begin", "dep-slow")]
    assert jobs.pending() == [Job("begin", "dep-queued")]
    jobs.enqueue(Job("begin", "dep-late"))  # after stop: dropped, with a warning
    assert jobs.pending() == [Job("begin", "dep-queued")]


def test_jobs_enqueued_from_a_job_run(make_jobs: Callable[..., ThreadJobs]) -> None:
    holder: dict[str, ThreadJobs] = {}

    def behaviour(job: Job) -> None:
        if job.kind == "begin":
            holder["jobs"].enqueue(Job("preflight", job.subject))

    recorder = Recorder(behaviour)
    jobs = holder["jobs"] = make_jobs(recorder)
    jobs.start()
    jobs.enqueue(Job("begin", "dep-1"))
    assert jobs.join_idle(WAIT)
    assert recorder.ran == [Job("begin", "dep-1"), Job("preflight", "dep-1")]


def test_start_twice_and_bad_options_are_refused(make_jobs: Callable[..., ThreadJobs]) -> None:
    jobs = make_jobs(Recorder())
    jobs.start()
    with pytest.raises(RuntimeError):
        jobs.start()
    with pytest.raises(ValueError, match="workers"):
        ThreadJobs(Recorder(), workers=0)
    with pytest.raises(ValueError, match="max_attempts"):
        ThreadJobs(Recorder(), max_attempts=0)


def test_exponential_backoff_doubles_up_to_a_cap() -> None:
    assert [exponential_backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert exponential_backoff(3, base=0.5, cap=1.5) == 1.5
