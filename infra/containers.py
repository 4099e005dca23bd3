"""The container engine of this host (podman or docker) and the HPO worker images it holds.

``hpo image build`` builds the images with it (``infra/images/Containerfile``); the Docker pools
check with it that the image a pool names exists and that the Docker API a Prefect worker talks
to (``DOCKER_HOST``) answers, so a bad setup fails with one line before any flow run exists.
Every check raises :class:`~hpo.errors.ConfigError` (exit 2 in the CLI).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

from hpo.errors import ConfigError

ENGINES = ("podman", "docker")
REVISION_LABEL = "org.opencontainers.image.revision"
VERSION_LABEL = "org.opencontainers.image.version"


@dataclass(frozen=True)
class Engine:
    """A container engine CLI found on PATH (``podman`` preferred, then ``docker``)."""

    name: str
    path: str

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.path, *args], capture_output=True, text=True, check=False, timeout=timeout
        )

    def image_labels(self, image: str) -> dict[str, str] | None:
        """The labels of ``image``, or None when the engine does not hold it."""
        proc = self.run("image", "inspect", image)
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout)
        config = data[0].get("Config") or {}
        labels: dict[str, str] = config.get("Labels") or data[0].get("Labels") or {}
        return labels

    def image_size(self, image: str) -> int:
        proc = self.run("image", "inspect", "--format", "{{.Size}}", image)
        return int(proc.stdout.strip() or 0)


def find_engine(preferred: str | None = None) -> Engine:
    """The engine to use; exit-2 error naming the fix when none is installed or it is broken."""
    names = (preferred,) if preferred else ENGINES
    for name in names:
        path = shutil.which(name)
        if path is None:
            continue
        engine = Engine(name, path)
        try:
            proc = engine.run("info", "--format", "json", timeout=30)
        except subprocess.TimeoutExpired:
            proc = None
        if proc is None or proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["no answer"])[-1] if proc else "timeout"
            raise ConfigError(
                f"the container engine {name} does not answer ({reason[:200]})",
                fix="start it (docker: the daemon; podman: CONTAINERS_CONF, see docs/fleet.md)",
            )
        return engine
    raise ConfigError(
        f"no container engine found: none of {', '.join(names)} is on PATH",
        fix="install one (apt-get install podman runc, or Docker) and retry",
    )


def prefect_docker_missing() -> ConfigError:
    """The error for a Docker pool command without the `docker` extra."""
    return ConfigError(
        "Docker work pools need prefect-docker, which is not installed",
        fix='pip install "prefect-hpo[docker]"',
    )


def docker_api_client(base_url: str | None = None) -> object:
    """A docker SDK client for ``DOCKER_HOST`` (what prefect-docker uses), pinged; exit-2 error
    when the docker SDK is missing or the daemon does not answer."""
    try:
        import docker
    except ImportError:
        raise prefect_docker_missing() from None
    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        client.ping()
    except Exception as exc:  # docker.errors.DockerException and the transport's errors
        raise ConfigError(
            f"the Docker daemon does not answer at DOCKER_HOST ({type(exc).__name__})",
            fix="start Docker, or `podman system service` with DOCKER_HOST=unix://<its socket>",
        ) from None
    return client


def require_image(client: object, image: str) -> None:
    """Exit-2 error when the Docker API at ``client`` does not hold ``image``."""
    import docker

    try:
        client.images.get(image)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        raise ConfigError(
            f"the image {image} is not on the Docker host",
            fix="build it there (`hpo image build`) or pass --image NAME of one it holds",
        ) from None


def require_gpus(client: object) -> None:
    """Exit-2 error when the Docker host has no NVIDIA runtime (no GPU can reach a container)."""
    info = client.info()  # type: ignore[attr-defined]
    runtimes = info.get("Runtimes") or {}
    if "nvidia" not in runtimes:
        raise ConfigError(
            "a GPU pool needs GPUs, but the Docker host has no NVIDIA container runtime",
            fix="install the NVIDIA Container Toolkit on the GPU hosts, or create only the CPU "
            "pool: hpo pools create --type docker --kind cpu",
        )
