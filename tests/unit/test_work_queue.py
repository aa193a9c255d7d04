"""``WorkQueue`` (the local runtime's worker pools): a failing operation is logged as an error
and the worker goes on; one cut short by ``stop`` (its engine client closed under it) is not an
error."""

from __future__ import annotations

import logging
import threading

import pytest

from devkit.serve import wait_for
from imagedeploy.adapters.local.work import RuntimeBusy, WorkQueue

pytestmark = pytest.mark.unit

LOGGER = "imagedeploy.adapters.local.work"


def _fail() -> None:
    raise RuntimeError("Cannot send a request, as the client has been closed.")


def test_a_failing_operation_is_an_error_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work = WorkQueue("test", workers=1, capacity=4)
    done = threading.Event()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        work.submit(_fail)
        work.submit(done.set)
        assert done.wait(10)
    work.stop()
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.getMessage() == "runtime operation failed"


def test_an_operation_cut_short_by_the_stop_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work = WorkQueue("test", workers=1, capacity=4)
    running, stopped = threading.Event(), threading.Event()

    def drain_then_use_the_closed_engine() -> None:
        running.set()
        stopped.wait(10)
        _fail()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        work.submit(drain_then_use_the_closed_engine)
        assert running.wait(10)
        work.stop()
        stopped.set()
        wait_for(lambda: caplog.records, 10, "the operation's end logged")
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == "runtime operation cut short by the stop"
    with pytest.raises(RuntimeBusy):
        work.submit(done_nothing)


def done_nothing() -> None:
    pass
