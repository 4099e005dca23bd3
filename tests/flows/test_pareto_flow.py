"""A study of several objectives through the real tune flow (a real Prefect server, a real
PostgreSQL): ZDT1 with NSGA-II and two in-process workers runs exactly N trials with distinct
params; its front is non-empty and non-dominated, leaves out infeasible trials, is what
`hpo studies front --json` prints, and is published as Prefect artifacts (table and plot)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anyio
import optuna
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.task_runners import ThreadPoolTaskRunner

from hpo.cli.main import main
from hpo.flows.tune import tune_flow
from hpo.query import StudyClient
from hpo.search_spaces.loader import load_spec
from hpo.store import get_storage

N = 40


def _tune(study: str, **spec_changes: Any) -> Any:
    spec = load_spec("zdt1").model_copy(update=spec_changes)
    flow = tune_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))
    state = flow(
        spec=spec, study_name=study, sampler="nsga2", n_trials=N, workers=2, return_state=True
    )
    assert state.is_completed()
    return state


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


@pytest.fixture(scope="module")
def zdt1_study(prefect_server: None, pg_url: str) -> tuple[str, Any]:
    study = f"zdt1-{uuid.uuid4().hex[:8]}"
    return study, _tune(study)


def test_exactly_n_trials_distinct_params_and_a_non_dominated_front(
    zdt1_study: tuple[str, Any],
) -> None:
    study_name, state = zdt1_study
    result = state.result()
    assert result.summary.counts.complete == N
    assert result.summary.best_trial is None  # several objectives: a front instead
    assert sum(w.counts.complete for w in result.workers) == N and len(result.workers) == 2
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(study.trials) == N and len(done) == N
    assert len({json.dumps(t.params, sort_keys=True) for t in done}) == N
    assert study.metric_names == ["f1", "f2"]

    front = StudyClient().pareto_front(study_name)
    assert front.objectives == ("f1", "f2") and front.n_complete == N
    points = [tuple(t.values or ()) for t in front.trials]
    assert points
    everything = [tuple(t.values) for t in done]
    for p in points:  # nothing dominates a front point...
        assert not any(_dominates(q, p) for q in everything)
    on_front = {t.number for t in front.trials}
    for t in done:  # ...and every other trial is dominated by one
        if t.number not in on_front:
            assert any(_dominates(p, tuple(t.values)) for p in points)
    # Optuna agrees (stock best_trials on the same study).
    assert on_front == {t.number for t in study.best_trials}


def test_front_json_from_the_command_line(
    zdt1_study: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    study_name, _ = zdt1_study
    code = main(["studies", "front", study_name, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["study_name"] == study_name and out["objectives"] == ["f1", "f2"]
    assert out["directions"] == ["minimize", "minimize"] and out["n_complete"] == N
    expected = StudyClient().pareto_front(study_name)
    assert [t["number"] for t in out["trials"]] == [t.number for t in expected.trials]
    assert all(len(t["values"]) == 2 and t["feasible"] for t in out["trials"])
    code = main(["studies", "front", study_name])
    table = capsys.readouterr().out
    assert code == 0 and "f1 (min)" in table and "trials on the front of 40 COMPLETE" in table


def test_the_front_is_published_as_artifacts(zdt1_study: tuple[str, Any]) -> None:
    study_name, state = zdt1_study
    run_id = state.state_details.flow_run_id

    async def artifacts() -> Any:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )

    by_key = {a.key: a for a in anyio.run(artifacts)}
    table = by_key[f"pareto-front-{study_name}"].data
    rows = json.loads(table) if isinstance(table, str) else table
    front = StudyClient().pareto_front(study_name)
    assert [r["trial"] for r in rows] == [t.number for t in front.trials]
    assert {"f1", "f2", "x0", "x9"} <= set(rows[0])
    plots = by_key[f"plots-{study_name}"].data
    assert "![front](data:image/png;base64," in plots


def test_infeasible_trials_stay_off_the_front(prefect_server: None, pg_url: str) -> None:
    from hpo.search_spaces.schema import ConstraintSpec

    study_name = f"zdt1-c-{uuid.uuid4().hex[:8]}"
    bound = ConstraintSpec(metric="f1", op=">=", value=0.5)  # the front's left half is out
    _tune(study_name, constraints=(bound,))
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == N
    infeasible = [t for t in done if t.values[0] < 0.5]
    assert infeasible  # the sampler did try some
    for t in done:
        assert t.constraints == {"f1 >= 0.5": pytest.approx(0.5 - t.values[0])}
    front = StudyClient().pareto_front(study_name)
    assert front.trials and front.constraints == ("f1 >= 0.5",)
    assert all(t.values and t.values[0] >= 0.5 and t.feasible for t in front.trials)
    assert front.n_feasible == N - len(infeasible)
    unconstrained = StudyClient().pareto_front(study_name, feasible_only=False)
    assert any(t.values and t.values[0] < 0.5 for t in unconstrained.trials)
