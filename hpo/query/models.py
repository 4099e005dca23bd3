"""What crosses the query boundary: frozen pydantic models, validated when built.

Datetimes are timezone-aware UTC (Optuna stores naive UTC and shows naive local time; here the
zone is explicit). Values are floats; an infinite value serializes to JSON as ``"Infinity"`` /
``"-Infinity"`` (strings: JSON has no infinity) and parses back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from hpo.errors import ConfigError
from hpo.storage.counts import StateCounts as StateCounts  # the one counts-by-state type

TrialStateName = Literal["RUNNING", "WAITING", "COMPLETE", "PRUNED", "FAIL"]
TRIAL_STATES: tuple[TrialStateName, ...] = ("RUNNING", "WAITING", "COMPLETE", "PRUNED", "FAIL")

#: ``running``: a trial is RUNNING or WAITING (a worker that died shows until its trial is
#: failed by the next claim); ``finished``: the ``hpo.n_trials`` budget of finished trials is
#: reached; ``stopped``: neither (budget not reached, or no budget recorded); ``empty``: no trial.
StudyState = Literal["empty", "running", "finished", "stopped"]
STUDY_STATES: tuple[StudyState, ...] = ("empty", "running", "finished", "stopped")

#: Trial orders: by number or by value (objective 0), ascending or descending (``-``); ``best``
#: is best first for the study's direction. Trials without a value come last in value orders.
SortKey = Literal["number", "-number", "value", "-value", "best"]
SORT_KEYS: tuple[SortKey, ...] = ("number", "-number", "value", "-value", "best")

_FROZEN = ConfigDict(frozen=True, ser_json_inf_nan="strings")


class TrialRecord(BaseModel):
    """One trial as stored, params in their external form (a categorical is its choice)."""

    model_config = _FROZEN

    number: int
    state: TrialStateName
    value: float | None = Field(description="Objective 0; None unless the trial has a value.")
    values: tuple[float, ...] | None = Field(
        default=None, description="All objectives (multi-objective studies)."
    )
    params: dict[str, Any] = Field(default_factory=dict)
    user_attrs: dict[str, Any] = Field(default_factory=dict)
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    duration_s: float | None = Field(default=None, description="Seconds from start to completion.")
    fail_reason: str | None = Field(
        default=None, description="The `fail_reason` system attribute of a FAIL trial."
    )


class StudyInfo(BaseModel):
    """One study in a listing."""

    model_config = _FROZEN

    study_id: int
    study_name: str
    directions: tuple[str, ...] = Field(description="`minimize` / `maximize` per objective.")
    sampler: str | None = Field(description="The `hpo.sampler` study attribute.")
    n_trials_budget: int | None = Field(description="The `hpo.n_trials` study attribute.")
    counts: StateCounts
    state: StudyState
    started_at: datetime | None = Field(description="Start of the study's first trial.")
    last_activity_at: datetime | None = Field(
        description="Latest start or completion of any of its trials."
    )

    @property
    def direction(self) -> str:
        return self.directions[0] if self.directions else "minimize"

    @property
    def n_trials(self) -> int:
        return self.counts.total


class StudySummary(StudyInfo):
    """A study at a glance: the listing fields plus what the study measures, its best trial,
    pace, devices and lineage (``StudyClient.summary``; the tune flows return it too)."""

    metric: str | None = Field(
        default=None,
        description="The `hpo.metric` study attribute: what the value measures (the spec's "
        "metric, e.g. `roc_auc`); None for a plain objective.",
    )
    best_trial: TrialRecord | None = Field(description="None until a trial is COMPLETE.")
    first_trial_at: datetime | None = Field(description="Start of the first trial.")
    last_trial_at: datetime | None = Field(description="Completion of the latest finished trial.")
    trials_per_minute: float | None = Field(
        description="Finished trials per minute between the first start and the last completion."
    )
    devices: dict[str, int] = Field(
        default_factory=dict, description="Trials by their `device` user attribute."
    )
    spec_hash: str | None = Field(default=None, description="The `hpo.spec_hash` study attribute.")
    hpo_attrs: dict[str, Any] = Field(
        default_factory=dict, description="Every `hpo.*` study user attribute."
    )
    duplicate_params: int = Field(
        default=0,
        description="Finished trials whose params repeat an earlier finished trial's, retries "
        "(`failed_trial` system attribute) and enqueued trials (`fixed_params`) not counted.",
    )
    retried_trials: int = Field(
        default=0,
        description="Finished retries of trials whose worker died (`failed_trial` system "
        "attribute): the one repeat the service makes on purpose.",
    )


class WorkerTally(BaseModel):
    """Trials of one study that one worker ran, by state, with where it ran (the ``worker``,
    ``pool``, ``host`` and ``device`` user attributes a worker sets on the trials it claims)."""

    model_config = _FROZEN

    worker: str
    pool: str | None
    host: str | None
    device: str | None
    counts: StateCounts


class Importances(BaseModel):
    """Parameter importances of one study (PED-ANOVA), highest first, summing to 1."""

    model_config = _FROZEN

    study_name: str
    evaluator: str = "PedAnovaImportanceEvaluator"
    n_trials: int = Field(description="COMPLETE trials the evaluation used.")
    importances: dict[str, float]


T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    """One page of results: ``items`` from ``offset``, at most ``limit`` of them.

    ``has_more`` says whether a next page exists (always known); ``total`` counts every match
    and is None unless asked for (``with_total=True``): on a large study counting is the one
    part of a page that grows with the study.
    """

    model_config = _FROZEN

    items: tuple[T, ...]
    offset: int
    limit: int
    has_more: bool
    total: int | None = None

    @property
    def next_offset(self) -> int | None:
        return self.offset + len(self.items) if self.has_more else None


def check_page(limit: int, offset: int, *, max_limit: int) -> None:
    """``1 <= limit <= max_limit`` and ``offset >= 0``, or a :class:`ConfigError`."""
    if not 1 <= limit <= max_limit:
        raise ConfigError(
            f"`1 <= limit <= {max_limit}` must hold, but got limit={limit}",
            fix=f"ask for at most {max_limit} items a page and page on with `offset`",
        )
    if offset < 0:
        raise ConfigError(
            f"`offset >= 0` must hold, but got offset={offset}", fix="start at offset 0"
        )


#: The concrete page classes (built once: parametrizing a generic model is not free).
TrialPage = Page[TrialRecord]
StudyPage = Page[StudyInfo]
