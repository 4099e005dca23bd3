from __future__ import annotations

import logging

import pytest

from hpo.errors import DeviceError
from hpo.workers.devices import cuda_available, resolve_device

pytestmark = pytest.mark.skipif(cuda_available(), reason="these tests expect a machine without GPU")


def test_cpu_is_always_cpu() -> None:
    assert resolve_device("cpu", allow_cpu_fallback=False) == "cpu"


def test_auto_picks_cpu_without_gpu() -> None:
    assert resolve_device("auto", allow_cpu_fallback=False) == "cpu"


def test_cuda_without_gpu_and_without_fallback_raises() -> None:
    with pytest.raises(DeviceError) as info:
        resolve_device("cuda", allow_cpu_fallback=False, visible_devices="0,1")
    message = str(info.value)
    assert "device 'cuda' was requested but no usable GPU is visible" in message
    assert "CUDA_VISIBLE_DEVICES='0,1'" in message
    assert "HPO_WORKER_DEVICE=cpu" in message
    assert "HPO_WORKER_ALLOW_CPU_FALLBACK=true" in message


def test_cuda_message_says_when_visible_devices_is_unset() -> None:
    with pytest.raises(DeviceError, match="CUDA_VISIBLE_DEVICES=<unset>"):
        resolve_device("cuda", allow_cpu_fallback=False)


def test_cuda_with_fallback_returns_cpu_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hpo.workers.devices"):
        assert resolve_device("cuda", allow_cpu_fallback=True) == "cpu"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no usable GPU" in warnings[0].getMessage()
    assert "falling back to cpu" in warnings[0].getMessage()
