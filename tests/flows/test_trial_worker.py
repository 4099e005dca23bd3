"""Which failed trial-worker task runs Prefect retries (``retry_if_transient``): a plain function
of the run's final state, shown real Prefect states, no server."""

from __future__ import annotations

from prefect.states import Completed, Failed

from hpo.errors import ConfigError, DeviceError, StoreUnavailableError
from hpo.flows.trial_worker import retry_if_transient


def test_a_store_outage_is_retried() -> None:
    assert retry_if_transient(None, None, Failed(data=StoreUnavailableError("store restarting")))


def test_deterministic_failures_fail_fast() -> None:
    assert not retry_if_transient(None, None, Failed(data=ConfigError("bad spec")))
    assert not retry_if_transient(None, None, Failed(data=DeviceError("no usable GPU")))
    assert not retry_if_transient(None, None, Failed(data=ZeroDivisionError()))


def test_a_finished_run_is_not_retried() -> None:
    assert not retry_if_transient(None, None, Completed(data=None))
