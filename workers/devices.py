"""Which device a worker's built-in objectives run on.

GPU detection goes through PyTorch, imported lazily (and not at all on a Linux machine with no
GPU device node): torch is an optional dependency, and without it no GPU is considered usable.
This module never reads the environment (only :mod:`hpo.settings` does); the caller passes
``CUDA_VISIBLE_DEVICES`` in for error messages.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from typing import Literal

from hpo.errors import ConfigError, DeviceError

logger = logging.getLogger(__name__)

RequestedDevice = Literal["auto", "cpu", "cuda"]
Device = Literal["cpu", "cuda"]


def cuda_available() -> bool:
    """True when torch is importable and sees at least one usable CUDA device.

    On Linux without an NVIDIA device node (``/dev/nvidia0``, ...) nor WSL's GPU (``/dev/dxg``)
    there is no CUDA device to find: answer without importing torch, which costs a worker
    seconds of start-up (32 workers starting on 2 cores: about a minute)."""
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        if not glob.glob("/dev/nvidia[0-9]*") and not os.path.exists("/dev/dxg"):
            return False
    try:
        import torch
    except ImportError:
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver install must not crash a worker that could use CPU
        logger.debug("torch.cuda.is_available() failed", exc_info=True)
        return False


def resolve_device(
    requested: RequestedDevice,
    allow_cpu_fallback: bool,
    visible_devices: str | None = None,
) -> Device:
    """The device to run on: ``"cpu"`` or ``"cuda"``.

    ``auto`` picks cuda when usable, else cpu. ``cuda`` without a usable GPU raises
    :class:`~hpo.errors.DeviceError`, unless ``allow_cpu_fallback``: then it warns and returns
    cpu. ``visible_devices`` is the value of ``CUDA_VISIBLE_DEVICES`` (``None``: unset), only
    used in messages.
    """
    if requested == "cpu":
        return "cpu"
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    if requested != "cuda":
        raise ConfigError(
            f"device must be one of auto, cpu, cuda, but got {requested!r}",
            fix="set HPO_WORKER_DEVICE to auto, cpu or cuda",
        )
    if cuda_available():
        return "cuda"
    shown = "<unset>" if visible_devices is None else repr(visible_devices)
    problem = (
        f"device 'cuda' was requested but no usable GPU is visible (CUDA_VISIBLE_DEVICES={shown})"
    )
    if allow_cpu_fallback:
        logger.warning("%s; falling back to cpu because allow_cpu_fallback is true", problem)
        return "cpu"
    raise DeviceError(
        problem, fix="set HPO_WORKER_DEVICE=cpu or HPO_WORKER_ALLOW_CPU_FALLBACK=true"
    )
