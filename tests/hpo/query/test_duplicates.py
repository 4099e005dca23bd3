"""The duplicate-params audit on real studies: repeats made by two samplers seeded alike (what
parallel workers did before issue 11) are counted; retries and enqueued points are counted
apart; a study without repeats shows none."""

from __future__ import annotations

import optuna
import pytest

from hpo.query import StudyClient
from hpo.query.duplicates import ENQUEUED_ATTR, RETRY_ATTR, audit_duplicates
from hpo.store import get_storage


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3.0, 3.0)
    c = trial.suggest_categorical("c", ["a", "b", "c"])
    return x**2 + (0.5 if c == "a" else 0.0)


def _worker(study_name: str, seed: int) -> optuna.Study:
    return optuna.load_study(
        study_name=study_name,
        storage=get_storage(),
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )


def test_same_seeded_workers_show_their_repeats(pg_url: str, study_name: str) -> None:
    optuna.create_study(study_name=study_name, storage=get_storage())
    _worker(study_name, 0).optimize(_objective, n_trials=5)
    _worker(study_name, 0).optimize(_objective, n_trials=5)  # repeats trials 0-4
    study = _worker(study_name, 1)
    first = study.trials[0]
    study.enqueue_trial(first.params)  # the user asked for this point again: not a duplicate
    study.optimize(_objective, n_trials=1)
    study.add_trial(  # a retry of trial 1, as Optuna's stale-trial callback makes it
        optuna.create_trial(
            params=study.trials[1].params,
            distributions=study.trials[1].distributions,
            value=study.trials[1].value,
            system_attrs={RETRY_ATTR: 1, "retry_history": [1]},
        )
    )
    trials = study.trials
    assert ENQUEUED_ATTR in trials[10].system_attrs and trials[10].params == first.params
    with get_storage().engine.connect() as conn:
        audit = audit_duplicates(conn, study._study_id)
    assert (audit.duplicates, audit.retries, audit.enqueued) == (5, 1, 1)
    detail = StudyClient().summary(study_name)
    assert (detail.duplicate_params, detail.retried_trials) == (5, 1)


def test_distinct_study_shows_no_repeat(pg_url: str, study_name: str) -> None:
    optuna.create_study(study_name=study_name, storage=get_storage())
    _worker(study_name, 0).optimize(_objective, n_trials=5)
    _worker(study_name, 1).optimize(_objective, n_trials=5)
    detail = StudyClient().summary(study_name)
    assert (detail.duplicate_params, detail.retried_trials) == (0, 0)


@pytest.mark.parametrize("state", ["FAIL", "RUNNING"])
def test_unfinished_trials_are_not_audited(pg_url: str, study_name: str, state: str) -> None:
    study = optuna.create_study(study_name=study_name, storage=get_storage())
    done = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, 1.0)
    again = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study._storage.set_trial_param(
        again._trial_id, "x", done.params["x"], optuna.distributions.FloatDistribution(0, 1)
    )
    if state == "FAIL":
        study.tell(again, state=optuna.trial.TrialState.FAIL)
    assert StudyClient().summary(study_name).duplicate_params == 0
