"""The container side of the tests: the HPO image (``HPO_TEST_IMAGE``, built by ``.ci/run`` with
``hpo image build``) and a Docker API (``DOCKER_HOST``, podman's service in CI). Tests that need
them skip with the reason when either is missing (a developer machine); in CI both are there."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict


class _ContainerEnv(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPO_TEST_", extra="ignore")

    image: str | None = None


class _DockerEnv(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    docker_host: str | None = None


@pytest.fixture(scope="session")
def docker_client() -> Any:
    """A docker SDK client for ``DOCKER_HOST`` (skip when unset or not answering)."""
    docker = pytest.importorskip("docker", reason="the docker extra is not installed")
    if not _DockerEnv().docker_host:
        pytest.skip("DOCKER_HOST is not set (.ci/run starts podman's Docker API service)")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        pytest.skip(f"the Docker API at DOCKER_HOST does not answer: {type(exc).__name__}")
    return client


@pytest.fixture(scope="session")
def worker_image(docker_client: Any) -> str:
    """The tag of the CPU image under test (skip when unset or not on the Docker host)."""
    image = _ContainerEnv().image
    if not image:
        pytest.skip("HPO_TEST_IMAGE is not set (.ci/run builds it with `hpo image build`)")
    try:
        docker_client.images.get(image)
    except Exception:
        pytest.skip(f"the image {image} is not on the Docker host (run `hpo image build`)")
    return image


def run_in_image(image: str, *argv: str, env: dict[str, str] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``docker run --rm --network host IMAGE ARGV`` through the docker CLI-compatible SDK."""
    import docker

    client = docker.from_env()
    container = client.containers.run(
        image, list(argv), environment=env or {}, network_mode="host", detach=True
    )
    try:
        code = container.wait(timeout=timeout)["StatusCode"]
        logs = container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)
    return subprocess.CompletedProcess(list(argv), code, logs, "")
