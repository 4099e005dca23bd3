"""Study listings and summaries."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import optuna
import pytest

from hpo.errors import ConfigError, StoreStateError
from hpo.query import StateCounts, StudyClient
from hpo.query.summaries import glob_to_like
from hpo.query.testing import GeneratedStudy, generate_study
from hpo.store import get_storage


@pytest.mark.parametrize(
    ("pattern", "like"),
    [("xgb-*", "xgb-%"), ("a?c", "a_c"), ("boost", "%boost%"), ("50%_x*", "50\\%\\_x%")],
)
def test_name_patterns(pattern: str, like: str) -> None:
    assert glob_to_like(pattern) == like


@pytest.fixture(scope="module")
def family(pg_url: str) -> dict[str, str]:
    """Four studies under one unique prefix: generated (running), finished, stopped, empty."""
    prefix = f"family-{datetime.now(UTC):%H%M%S%f}"
    storage = get_storage()
    names = {state: f"{prefix}-{state}" for state in ("running", "finished", "stopped", "empty")}
    generate_study(storage, names["running"], 40, sampler="tpe")
    for state, budget in (("finished", 3), ("stopped", 5)):
        study = optuna.create_study(study_name=names[state], storage=storage)
        study.set_user_attr("hpo.sampler", "random")
        study.set_user_attr("hpo.n_trials", budget)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    optuna.load_study(study_name=names["finished"], storage=storage).set_user_attr(
        "hpo.metric", "rmse"
    )
    optuna.create_study(study_name=names["empty"], storage=storage)
    names["prefix"] = prefix
    return names


def test_list_filters_and_pages(client: StudyClient, family: dict[str, str]) -> None:
    pattern = family["prefix"] + "-*"
    page = client.list_studies(name=pattern)
    assert page.total == 4 and not page.has_more
    assert [s.study_name for s in page.items] == [  # newest first
        family["empty"],
        family["stopped"],
        family["finished"],
        family["running"],
    ]
    assert {s.study_name: s.state for s in page.items} == {
        family[state]: state for state in ("running", "finished", "stopped", "empty")
    }
    first = client.list_studies(name=pattern, limit=3)
    second = client.list_studies(name=pattern, limit=3, offset=3)
    assert first.has_more and not second.has_more and first.total == second.total == 4
    assert [s.study_name for s in first.items + second.items] == [s.study_name for s in page.items]
    assert client.list_studies(name=pattern, offset=10).total == 4

    randoms = client.list_studies(name=pattern, sampler="random")
    assert {s.study_name for s in randoms.items} == {family["finished"], family["stopped"]}
    running = client.list_studies(name=pattern, state="running")
    assert [s.study_name for s in running.items] == [family["running"]]
    assert running.total == 1
    assert client.list_studies(name=family["prefix"]).total == 4  # a substring


def test_list_dates(client: StudyClient, family: dict[str, str]) -> None:
    pattern = family["prefix"] + "-*"
    future = datetime.now(UTC) + timedelta(days=1)
    assert client.list_studies(name=pattern, started_after=future).total == 0
    assert client.list_studies(name=pattern, started_before=future).total == 3  # not the empty
    recent = client.list_studies(name=pattern, active_after=datetime.now(UTC) - timedelta(hours=1))
    assert family["finished"] in {s.study_name for s in recent.items}


def test_list_refuses_bad_input(client: StudyClient) -> None:
    with pytest.raises(ConfigError, match="unknown study state 'done'"):
        client.list_studies(state="done")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="limit"):
        client.list_studies(limit=0)
    with pytest.raises(ConfigError, match="started_after must be a datetime"):
        client.list_studies(started_after="yesterday")  # type: ignore[arg-type]


def test_summary_of_a_generated_study(
    client: StudyClient,
    generated: GeneratedStudy,
    optuna_trials: list[optuna.trial.FrozenTrial],
) -> None:
    detail = client.summary(generated.study_name)
    assert detail.counts.model_dump() == {k.lower(): v for k, v in generated.states.items()}
    assert detail.n_trials == 2_000 and detail.n_trials_budget == 2_000
    assert detail.state == "running"  # 3 RUNNING trials
    assert detail.sampler == "tpe" and detail.spec_hash == "synthetic-7" and detail.metric is None
    assert detail.hpo_attrs["hpo.spec_name"] == "synthetic"
    assert detail.directions == ("minimize",)
    complete = [t for t in optuna_trials if t.state.name == "COMPLETE"]
    best = min(complete, key=lambda t: t.values[0])
    assert detail.best_trial is not None and detail.best_trial.number == best.number
    assert detail.devices == dict(
        Counter(t.user_attrs["device"] for t in optuna_trials if "device" in t.user_attrs)
    )
    first = min(t.datetime_start for t in optuna_trials if t.datetime_start)
    last = max(t.datetime_complete for t in optuna_trials if t.datetime_complete)
    assert detail.first_trial_at == first.astimezone(UTC)
    assert detail.last_trial_at == last.astimezone(UTC)
    minutes = (last - first).total_seconds() / 60
    assert detail.trials_per_minute == pytest.approx(detail.counts.finished / minutes)


def test_summary_names_what_the_value_measures(client: StudyClient, family: dict[str, str]) -> None:
    """The spec's metric (study attribute ``hpo.metric``), what `hpo studies show` and the tune
    flows' best-config artifact call the best value."""
    finished = client.summary(family["finished"])
    assert finished.metric == "rmse" and finished.state == "finished"
    assert finished.counts == StateCounts(complete=3) and finished.best_trial is not None
    assert client.summary(family["stopped"]).metric is None


def test_trials_by_worker_of_a_generated_study(
    client: StudyClient,
    generated: GeneratedStudy,
    optuna_trials: list[optuna.trial.FrozenTrial],
) -> None:
    expected: dict[tuple[str, str | None, str | None, str | None], Counter[str]] = {}
    for t in optuna_trials:
        if "worker" in t.user_attrs:
            a = t.user_attrs
            key = (a["worker"], a.get("pool"), a.get("host"), a.get("device"))
            expected.setdefault(key, Counter())[t.state.name.lower()] += 1
    tallies = client.trials_by_worker(generated.study_name)
    assert len(expected) > 1  # several workers, pools and devices
    assert {(w.worker, w.pool, w.host, w.device): w.counts for w in tallies} == {
        key: StateCounts(**counter) for key, counter in expected.items()
    }
    keys = [(w.worker, w.pool or "", w.host or "", w.device or "") for w in tallies]
    assert keys == sorted(keys)
    # Every trial but the WAITING ones, which no worker claimed yet.
    assert sum(w.counts.total for w in tallies) == 2_000 - generated.states["WAITING"]
    with pytest.raises(StoreStateError, match="no study named"):
        client.trials_by_worker(f"nope-{datetime.now(UTC).timestamp()}")


def test_summary_of_an_empty_study(client: StudyClient, family: dict[str, str]) -> None:
    detail = client.summary(family["empty"])
    assert detail.state == "empty" and detail.n_trials == 0
    assert detail.best_trial is None and detail.trials_per_minute is None
    assert detail.devices == {} and detail.sampler is None


def test_summary_of_an_unknown_study(client: StudyClient) -> None:
    with pytest.raises(StoreStateError, match="no study named 'nope-"):
        client.summary(f"nope-{datetime.now(UTC).timestamp()}")
