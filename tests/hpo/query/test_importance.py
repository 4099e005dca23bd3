"""PED-ANOVA importances."""

from __future__ import annotations

import optuna
import pytest

from hpo.errors import StoreStateError
from hpo.query import StudyClient
from hpo.query.testing import GeneratedStudy


def test_importances_find_what_the_objective_uses(
    client: StudyClient, generated: GeneratedStudy
) -> None:
    result = client.importances(generated.study_name)
    assert result.n_trials == generated.states["COMPLETE"]
    assert list(result.importances)[:2] == ["lr", "max_depth"]  # the generator's objective
    assert sum(result.importances.values()) == pytest.approx(1.0)


def test_importances_need_two_complete_trials(
    client: StudyClient, pg_url: str, study_name: str
) -> None:
    study = optuna.create_study(study_name=study_name, storage=pg_url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(StoreStateError, match="at least 2 COMPLETE trials, but study .* has 1"):
        client.importances(study_name)
