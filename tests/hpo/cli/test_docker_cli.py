"""Bad input of the Docker commands: each is one line on stderr and exit 2, before anything is
created on the Prefect server (``PREFECT_API_URL`` points at a port nobody listens on, so any
attempt to create a pool or a flow run would fail differently)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.containers_fixture import docker_client, worker_image  # noqa: F401 (fixtures)


def _hpo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "HPO_DATABASE_URL"}
    base.update(PREFECT_API_URL="http://127.0.0.1:9/api", PREFECT_HOME=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-m", "hpo", *args],
        env=base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_error(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode == 2, proc.stderr
    first, *rest = proc.stderr.strip().splitlines()
    assert first.startswith("error: ") and text in first, proc.stderr
    assert all(line.startswith("  fix: ") for line in rest), proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_type_unreachable_daemon_and_missing_url_file(tmp_path: Path) -> None:
    url_file = tmp_path / "db-url"
    url_file.write_text("postgresql://hpo:s3cret@db/hpo")
    proc = _hpo(tmp_path, "pools", "create", "--type", "kubernetes")
    _one_error(proc, "unknown pool type 'kubernetes'")
    proc = _hpo(tmp_path, "pools", "create", "--type", "docker", "--url-file", str(url_file),
                DOCKER_HOST=f"unix://{tmp_path}/nobody.sock")  # fmt: skip
    _one_error(proc, "the Docker daemon does not answer at DOCKER_HOST")
    proc = _hpo(tmp_path, "worker", "start", "--type", "docker", "--pool", "cpu",
                DOCKER_HOST=f"unix://{tmp_path}/nobody.sock")  # fmt: skip
    _one_error(proc, "the Docker daemon does not answer at DOCKER_HOST")
    proc = _hpo(tmp_path, "pools", "create", "--type", "docker", "--url-file", "/nonexistent")
    _one_error(proc, "--url-file /nonexistent: no such file on this worker host")


def test_no_container_engine_for_image_build(tmp_path: Path) -> None:
    proc = _hpo(tmp_path, "image", "build", "--engine", "docker", PATH=str(tmp_path))
    _one_error(proc, "no container engine found: none of docker is on PATH")


def test_missing_image_and_a_gpu_pool_without_gpus(
    tmp_path: Path,
    docker_client: Any,  # noqa: F811
    worker_image: str,  # noqa: F811
) -> None:
    url_file = tmp_path / "db-url"
    url_file.write_text("postgresql://hpo:s3cret@db/hpo")
    common = ("pools", "create", "--type", "docker", "--url-file", str(url_file))
    proc = _hpo(tmp_path, *common, "--kind", "cpu", "--image", "hpo-worker:no-such-tag")
    _one_error(proc, "the image hpo-worker:no-such-tag is not on the Docker host")
    proc = _hpo(tmp_path, *common, "--kind", "gpu", "--gpu-image", worker_image)
    _one_error(proc, "a GPU pool needs GPUs, but the Docker host has no NVIDIA container runtime")
    assert "s3cret" not in proc.stderr
