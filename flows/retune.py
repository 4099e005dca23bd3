"""The ``hpo-retune`` flow: the scheduled re-tune of a pipeline stage.

Each run opens a new study ``<pipeline>-<stage>-<UTC time>``, warm-starts it with the best
trials of the previous run's study, tunes it (in-process workers) and sends its best trial
through the promotion gate. Deployed with a nightly cron schedule in ``prefect.yaml``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from hpo.flows.promote import promote_flow
from hpo.flows.tune import tune_flow
from hpo.promotions.registry import Promotion
from hpo.search_spaces.loader import load_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, latest_study, open_study, warm_start


@task(name="warm-start", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def warm_start_task(plan: StudyPlan, prefix: str, top_k: int) -> int:
    """Open the new study and enqueue the previous study's best configurations."""
    storage = get_storage()
    study = open_study(plan, storage)
    previous = latest_study(storage, prefix, exclude=plan.study_name)
    if previous is None or top_k == 0:
        return 0
    return warm_start(study, storage, previous, plan.spec, top_k)


@flow(name="hpo-retune", flow_run_name="retune-{pipeline}-{stage}")
def retune_flow(
    spec_name: str,
    pipeline: str,
    stage: str = "staging",
    n_trials: int = 30,
    workers: int = 2,
    sampler: str | None = None,
    warm_start_top_k: int = 5,
    margin: float = 0.0,
    reeval_seeds: int = 3,
) -> Promotion:
    """Re-tune ``spec_name`` for ``pipeline``/``stage`` and promote through the gate."""
    spec = load_spec(spec_name)
    prefix = f"{pipeline}-{stage}-"
    study_name = prefix + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    chosen = sampler or spec.sampler
    plan = StudyPlan(study_name=study_name, spec=spec, sampler=chosen, n_trials=n_trials, seed=0)
    enqueued = warm_start_task(plan, prefix, warm_start_top_k)
    get_run_logger().info("study %s warm-started with %d configurations", study_name, enqueued)
    runner: ThreadPoolTaskRunner = ThreadPoolTaskRunner(max_workers=workers)  # type: ignore[type-arg]
    tune_flow.with_options(task_runner=runner)(  # type: ignore[arg-type]
        spec=spec, study_name=study_name, sampler=chosen, n_trials=n_trials, workers=workers
    )
    return promote_flow(
        study_name=study_name, pipeline=pipeline, stage=stage, margin=margin,
        reeval_seeds=reeval_seeds,
    )  # fmt: skip
