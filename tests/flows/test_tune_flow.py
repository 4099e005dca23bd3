"""The tune flow on a real Prefect server and a real PostgreSQL."""

from __future__ import annotations

from collections import Counter

import optuna
from prefect.client.orchestration import get_client
from prefect.task_runners import ThreadPoolTaskRunner

from hpo.flows.tune import tune_flow
from hpo.monitoring import artifact_key
from hpo.query import StateCounts, StudyClient, StudySummary
from hpo.search_spaces.loader import parse_spec
from hpo.store import get_storage

SPEC = {
    "name": "flow-test",
    "objective": "tests.objectives_fixture:sleepy",
    "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
}


def test_tune_flow_fans_out_and_reports(prefect_server: None, pg_url: str, study_name: str) -> None:
    spec = parse_spec(SPEC)
    flow = tune_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=3))
    state = flow(
        spec=spec, study_name=study_name, sampler="tpe", n_trials=15, workers=3, return_state=True
    )
    assert state.is_completed()
    result = state.result()
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    assert Counter(t.state.name for t in study.trials) == Counter({"COMPLETE": 15})
    # The flow returns the query API's summary, the one `hpo studies show` prints.
    summary = result.summary
    assert isinstance(summary, StudySummary)
    assert summary == StudyClient().summary(study_name)
    assert summary.counts == StateCounts(complete=15) and summary.state == "finished"
    assert summary.best_trial is not None and summary.best_trial.number == study.best_trial.number
    assert summary.best_trial.value == study.best_value and summary.metric is None
    assert len(result.workers) == 3
    assert sum(w.counts.complete for w in result.workers) == 15

    # The run is visible on the Prefect server: one flow run, one task run per worker.
    import anyio

    async def runs() -> tuple[str, list[str]]:
        async with get_client() as client:
            flow_run = await client.read_flow_run(state.state_details.flow_run_id)
            from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

            task_runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
            )
            return flow_run.name, sorted(t.name for t in task_runs)

    name, task_names = anyio.run(runs)
    assert name == f"tune-{study_name}-tpe"
    assert [n for n in task_names if "worker" in n] == [
        f"{study_name}-worker-{i}" for i in range(3)
    ]

    # The best-config artifact shows that summary.
    async def best_config() -> str:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        async with get_client() as client:
            (artifact,) = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[artifact_key("best-config", study_name)])
                )
            )
            return str(artifact.data)

    markdown = anyio.run(best_config)
    assert "finished: **15** / 15 (complete 15, pruned 0, failed 0)" in markdown
    assert f"best value: **{study.best_value:.6g}** (trial {study.best_trial.number})" in markdown
    assert f'"x": {study.best_params["x"]}' in markdown
