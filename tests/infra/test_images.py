"""The trial-worker image (infra/images/Containerfile, built by `hpo image build`): labels with
the version and commit, a non-root user, the package installed non-editable (no checkout in the
image), and `hpo` / Prefect's flow-run entry point runnable as the image's command."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from tests.containers_fixture import docker_client, run_in_image, worker_image  # noqa: F401

_PROBE = """
import importlib.metadata as md, os, hpo, hpo.flows.trial_worker, prefect_docker
dist = md.distribution("prefect-hpo")
print(os.getuid(), hpo.__file__, dist.read_text("direct_url.json") is None, dist.version)
"""


def test_image_labels_user_and_installed_package(
    docker_client: Any,  # noqa: F811
    worker_image: str,  # noqa: F811
) -> None:
    labels = docker_client.images.get(worker_image).labels
    assert labels["org.opencontainers.image.version"] == version("prefect-hpo")
    revision = labels["org.opencontainers.image.revision"]
    assert len(revision.removesuffix("-dirty")) == 40  # a git commit
    assert labels["io.prefect-hpo.device"] == "cpu"

    proc = run_in_image(worker_image, "python", "-c", _PROBE)
    assert proc.returncode == 0, proc.stdout
    uid, path, not_editable, dist_version = proc.stdout.split()[-4:]
    assert uid == "10001"  # the image's user `hpo`, not root
    assert path.startswith("/opt/hpo/lib/python3.11/site-packages/hpo/")  # no checkout
    assert (not_editable, dist_version) == ("True", version("prefect-hpo"))

    help_text = run_in_image(worker_image, "hpo", "worker", "start", "--help").stdout
    assert "--pool" in help_text
