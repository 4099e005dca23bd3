"""The bulk generator writes what Optuna writes: stock Optuna reads its studies back."""

from __future__ import annotations

from collections import Counter

import optuna
import pytest

from hpo.query.testing import SEARCH_SPACE, GeneratedStudy, generate_study
from hpo.store import get_storage


def test_stock_optuna_reads_a_generated_study(
    generated: GeneratedStudy, optuna_trials: list[optuna.trial.FrozenTrial], pg_url: str
) -> None:
    study = optuna.load_study(study_name=generated.study_name, storage=pg_url)
    assert [t.number for t in optuna_trials] == list(range(2_000))
    assert Counter(t.state.name for t in optuna_trials) == Counter(generated.states)
    assert generated.states["WAITING"] == 2 and generated.states["RUNNING"] == 3
    complete = [t for t in optuna_trials if t.state.name == "COMPLETE"]
    assert study.best_trial.number == min(complete, key=lambda t: t.values[0]).number
    assert study.user_attrs["hpo.n_trials"] == 2_000
    for trial in optuna_trials:
        if trial.state.name == "WAITING":
            assert trial.params == {} and trial.datetime_start is None
            assert set(trial.system_attrs["fixed_params"]) == {"lr", "max_depth"}
            continue
        assert trial.distributions == {name: SEARCH_SPACE[name] for name in trial.params}
        assert ("dart_rate" in trial.params) == (trial.params["booster"] == "dart")
        assert trial.user_attrs["device"] in ("cpu", "cuda")
        if trial.state.name == "COMPLETE":
            assert trial.value is not None and trial.datetime_complete is not None
        if trial.state.name == "PRUNED":  # as study.tell(state=PRUNED) stores it
            assert trial.value == trial.intermediate_values[1]
        if trial.state.name == "FAIL":
            assert trial.value is None
            assert trial.system_attrs["fail_reason"] == "ValueError: synthetic failure"
        if trial.state.name == "RUNNING":
            assert trial.datetime_complete is None


def test_a_generated_study_takes_more_trials_through_optuna(pg_url: str, study_name: str) -> None:
    generated = generate_study(
        get_storage(), study_name, 50, direction="maximize", n_running=0, n_waiting=0
    )
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, log=True), n_trials=2)
    assert len(study.trials) == generated.n_trials + 2
    assert [t.number for t in study.trials] == list(range(52))
    assert study.best_trial.value == max(t.value for t in study.trials if t.value is not None)


def test_bad_sizes_are_refused(pg_url: str, study_name: str) -> None:
    with pytest.raises(ValueError, match="n_trials >= n_running \\+ n_waiting"):
        generate_study(get_storage(), study_name, 3, n_running=3, n_waiting=2)
