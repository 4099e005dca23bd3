"""The compare flow on a real Prefect server and a real PostgreSQL: every study runs, the report
is published as artifacts and written to files, the group is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import optuna
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)

from hpo.cli.main import main
from hpo.compare import load_group, load_report
from hpo.errors import ConfigError, StoreStateError
from hpo.flows.compare import artifact_key, compare_flow
from hpo.search_spaces.loader import load_spec, parse_spec
from hpo.store import get_storage


def _artifacts(keys: list[str]) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
            )
            return {a.key: a for a in found}

    return anyio.run(read)


def _task_run_names(flow_run_id: Any) -> list[str]:
    async def read() -> list[str]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            return sorted(r.name for r in runs)

    return anyio.run(read)


def test_compare_flow_runs_reports_and_publishes(
    prefect_server: None, pg_url: str, study_name: str, tmp_path: Path
) -> None:
    group = f"flow-{study_name}"
    state = compare_flow(
        spec=load_spec("branin"),
        group=group,
        samplers=["grid", "random", "tpe"],
        n_trials=12,
        seeds=2,
        output_dir=str(tmp_path),
        return_state=True,
    )
    assert state.is_completed(), state.message
    result = state.result()
    report = result.report

    # One study per (sampler, seed), grid once; exactly the budget each.
    storage = get_storage()
    for name, budget in [
        (f"{group}-grid-s0", 12),
        (f"{group}-random-s0", 12),
        (f"{group}-random-s1", 12),
        (f"{group}-tpe-s0", 12),
        (f"{group}-tpe-s1", 12),
    ]:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert [t.state.name for t in trials] == ["COMPLETE"] * budget
    grid_points = [
        (t.params["x0"], t.params["x1"])
        for t in optuna.load_study(study_name=f"{group}-grid-s0", storage=storage).trials
    ]
    assert len(set(grid_points)) == 12  # 4 x 3, each point once
    assert report.result("grid").note is not None

    # The artifacts are on the server: the markdown report and the table.
    key = artifact_key(group)
    assert result.artifact_keys == [key, f"{key}-table"]
    artifacts = _artifacts(result.artifact_keys)
    assert set(artifacts) == {key, f"{key}-table"}
    markdown = artifacts[key]
    assert markdown.type == "markdown"
    assert report.verdict in str(markdown.data)
    assert str(result.files.png) in str(markdown.data)
    # Inlined, so the Prefect UI shows it (a relative PNG link is a broken image there).
    assert "![convergence](data:image/png;base64,iVBORw0KGgo" in str(markdown.data)
    table = artifacts[f"{key}-table"]
    assert table.type == "table"
    assert "tpe" in str(table.data) and "random" in str(table.data)

    # The files, and the group through the Python API.
    for path in (result.files.markdown, result.files.json_path, result.files.png):
        assert path.exists() and path.parent == tmp_path.resolve()
    assert load_report(group) == report
    assert load_group(group).status == "done"

    # One trial-worker task per study (workers_per_study=1).
    names = _task_run_names(state.state_details.flow_run_id)
    workers = [n for n in names if n.endswith("-worker-0")]
    assert len(workers) == 5


def test_artifact_key_alphabet() -> None:
    assert artifact_key("Branin_cmp.1") == "compare-branin-cmp-1"


def test_a_sampler_that_cannot_work_fails_before_anything_runs(
    prefect_server: None, pg_url: str, study_name: str
) -> None:
    spec = parse_spec(
        {
            "name": "cats",
            "objective": "tests.objectives_fixture:quadratic",
            "params": {"c": {"type": "categorical", "choices": ["a", "b"]}},
        }
    )
    state = compare_flow(
        spec=spec,
        group=study_name,
        samplers=["random", "cmaes"],
        n_trials=5,
        seeds=2,
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(ConfigError, match="sampler 'cmaes' needs at least one int or float"):
        state.result()
    with pytest.raises(StoreStateError):
        load_group(study_name)
    with pytest.raises(KeyError):
        get_storage().get_study_id_from_name(f"{study_name}-random-s0")


def test_hpo_compare_runs_the_flow_and_prints_json(
    prefect_server: None,
    pg_url: str,
    study_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["compare", "branin", "--samplers", "random,qmc", "--n-trials", "6", "--seeds", "2"]
    argv += ["--group", study_name, "--target", "5.0", "--output", str(tmp_path), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["group"] == study_name
    report = result["report"]
    assert report["samplers"] == ["random", "qmc"] and report["seeds"] == [0, 1]
    assert report["target"] == 5.0 and report["target_source"] == "given"
    assert Path(result["files"]["markdown"]) == tmp_path.resolve() / "report.md"
    assert load_report(study_name).verdict == report["verdict"]
    assert len(load_group(study_name).members) == 4


def test_hpo_compare_of_fronts_through_the_flow(
    prefect_server: None,
    pg_url: str,
    study_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A spec of several objectives: the --reference-point given on the command line reaches
    the flow; --json, the stored report and the Prefect artifacts carry the hypervolumes."""
    argv = ["compare", "zdt1", "--samplers", "random,nsga2", "--n-trials", "6", "--seeds", "2"]
    argv += ["--group", study_name, "--reference-point", "f1=2,f2=12"]
    argv += ["--output", str(tmp_path), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    report = result["report"]
    assert report["metric"] == "hypervolume" and report["direction"] == "maximize"
    assert report["hypervolume"]["reference_point"] == [2.0, 12.0]
    assert report["hypervolume"]["source"] == "--reference-point"
    assert report["hypervolume"]["optimal"] is None  # not zdt1's own point: no regret
    stored = load_report(study_name)
    assert stored.model_dump(mode="json") == report
    assert all(0 < v <= 24.0 for r in stored.results for v in r.final_values if v is not None)
    artifacts = _artifacts(result["artifact_keys"])
    markdown, table = (artifacts[k] for k in result["artifact_keys"])
    assert "against the reference point f1=2, f2=12 (--reference-point)" in str(markdown.data)
    assert "hypervolume (median [IQR])" in str(table.data)
