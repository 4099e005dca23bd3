"""infra/kubernetes/ without a cluster: each work-pool base job template, rendered as Prefect's
Kubernetes worker renders it (the template's defaults plus the values the worker substitutes for
a flow run: name, labels, env, command), is a valid batch/v1 Job for the Kubernetes schema; the
GPU template asks one `nvidia.com/gpu` and tolerates GPU nodes; the store URL is a mounted Secret,
never a job variable; the Secret and PgBouncer manifests validate too."""

from __future__ import annotations

import copy
import json
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S = Path(__file__).resolve().parents[2] / "infra" / "kubernetes"
VERSION = "1.30"


def render(
    kind: str, flow_run_name: str = "study-abc-cpu-0", flow_run_id: str | None = None
) -> dict[str, Any]:
    """The Job manifest a Kubernetes worker submits for one flow run of the pool."""
    from prefect.utilities.templating import apply_values

    template = json.loads((K8S / f"job-template-{kind}.json").read_text())
    props = template["variables"]["properties"]
    values = {k: v["default"] for k, v in props.items() if "default" in v}
    flow_run_id = flow_run_id or str(uuid.uuid4())
    values.update(  # what the worker fills in (prepare_for_flow_run)
        name=flow_run_name,
        command="prefect flow-run execute",
        labels={"prefect.io/flow-run-id": flow_run_id, "prefect.io/flow-run-name": flow_run_name},
        env={
            "PREFECT__FLOW_RUN_ID": flow_run_id,
            "PREFECT_API_URL": "http://prefect-server.hpo.svc.cluster.local:4200/api",
        },
    )
    config = apply_values(template["job_configuration"], values)
    job: dict[str, Any] = copy.deepcopy(config["job_manifest"])
    container = job["spec"]["template"]["spec"]["containers"][0]
    # As the worker does: the env dict joins the manifest's env list, the command becomes args.
    container["env"] = [
        *({"name": k, "value": v} for k, v in config["env"].items()),
        *container["env"],
    ]
    container["args"] = shlex.split(container["args"])
    return job


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_job_templates_render_to_valid_jobs(kind: str) -> None:
    job = render(kind)
    kubernetes_validate.validate(job, VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["prefect", "flow-run", "execute"]
    assert job["metadata"]["generateName"] == "study-abc-cpu-0-"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HPO_WORKER_DEVICE"] == ("cuda" if kind == "gpu" else "cpu")
    assert env["HPO_DATABASE_URL_FILE"] == "/run/secrets/hpo/database-url"
    assert "HPO_DATABASE_URL" not in env
    (volume,) = pod["volumes"]
    assert volume["secret"]["secretName"] == "hpo-database-url"
    assert container["securityContext"]["runAsUser"] == 10001  # the image's user
    if kind == "gpu":
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
    else:
        assert "nvidia.com/gpu" not in container["resources"]["limits"]


def test_a_bad_render_is_caught_by_the_schema() -> None:
    """The validation has teeth: a resource limit of the wrong type fails it."""
    job = render("cpu")
    job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = {"x": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, VERSION, strict=True)


def test_secret_and_pgbouncer_manifests_validate() -> None:
    docs = [
        doc
        for name in ("store-secret.yaml", "pgbouncer.yaml")
        for doc in yaml.safe_load_all((K8S / name).read_text())
    ]
    assert [d["kind"] for d in docs] == ["Secret", "ConfigMap", "Deployment", "Service"]
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_worker_values_name_the_pools_and_the_templates() -> None:
    for kind in ("cpu", "gpu"):
        values = yaml.safe_load((K8S / f"worker-values-{kind}.yaml").read_text())["worker"]
        assert values["config"]["workPool"] == f"hpo-{kind}"
        assert values["config"]["type"] == "kubernetes"
        assert values["config"]["baseJobTemplate"]["existingConfigMapName"] == (
            f"hpo-{kind}-job-template"
        )
        assert values["apiConfig"] == "selfHostedServer"
