"""The Docker pools' base job templates (prefect-docker's template, HPO defaults filled in), as
Prefect's worker renders them into a job configuration: the image, network, resources, one GPU
per GPU container, and the store URL only ever as a mounted file's path."""

from __future__ import annotations

import json

import pytest

from hpo.errors import ConfigError
from hpo.infra.docker_pools import SECRET_PATH, DockerPoolOptions, docker_job_template

pytest.importorskip("prefect_docker", reason="the docker extra is not installed")


def _render(template: dict[str, object]) -> object:
    """The job configuration a worker builds from the template and no job variables."""
    from prefect.utilities.templating import apply_values

    props = template["variables"]["properties"]  # type: ignore[index]
    defaults = {k: v["default"] for k, v in props.items() if "default" in v}
    return apply_values(template["job_configuration"], defaults)


def test_cpu_template_sets_image_network_resources_and_the_url_file() -> None:
    options = DockerPoolOptions(
        image="hpo-worker:0.1.0-cpu", url_file="/etc/hpo/db", mem_limit="2g", cpus=1.5,
        env=(("PYTHONPATH", "/user"),), volumes=("/srv/objectives:/user:ro",),
    )  # fmt: skip
    job = _render(docker_job_template(options))
    assert isinstance(job, dict)
    assert job["image"] == "hpo-worker:0.1.0-cpu"
    assert job["network_mode"] == "host"
    assert job["mem_limit"] == "2g"
    assert job["image_pull_policy"] == "IfNotPresent"
    assert job["auto_remove"] is False  # else the worker cannot see a killed container crash
    assert job["container_create_kwargs"] == {"nano_cpus": 1_500_000_000}
    assert job["env"] == {
        "HPO_WORKER_DEVICE": "cpu",
        "HPO_DATABASE_URL_FILE": SECRET_PATH,
        "PREFECT_HOME": "/home/hpo/.prefect",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "hpo",
        "PYTHONPATH": "/user",
    }
    assert job["volumes"] == [f"/etc/hpo/db:{SECRET_PATH}:ro", "/srv/objectives:/user:ro"]


def test_gpu_template_requests_one_gpu_per_container() -> None:
    job = _render(docker_job_template(DockerPoolOptions(image="hpo-worker:0.1.0-gpu", gpu=True)))
    assert isinstance(job, dict)
    assert job["env"]["HPO_WORKER_DEVICE"] == "cuda"
    assert job["container_create_kwargs"] == {
        "device_requests": [{"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}]
    }
    # docker-py accepts the request as written (what prefect-docker hands it).
    from docker.types import DeviceRequest

    request = DeviceRequest(**job["container_create_kwargs"]["device_requests"][0])
    assert (request.driver, request.count, request.capabilities) == ("nvidia", 1, [["gpu"]])


def test_the_template_never_holds_a_url() -> None:
    text = json.dumps(docker_job_template(DockerPoolOptions(image="x")))
    assert "postgresql" not in text and 'HPO_DATABASE_URL"' not in text
    with pytest.raises(ConfigError, match="must not be a job variable"):
        docker_job_template(
            DockerPoolOptions(image="x", env=(("HPO_DATABASE_URL", "postgresql://u:p@h/db"),))
        )
    with pytest.raises(ConfigError, match="absolute path"):
        docker_job_template(DockerPoolOptions(image="x", url_file="db-url"))
