"""Parameter importances (PED-ANOVA) of a study's COMPLETE trials.

Optuna's evaluator works on ``FrozenTrial`` objects, so this is the one query that loads trials
into memory: through Optuna's own read path (``optuna.Study`` on the store, which reads and
never writes), as ``optuna.importance.get_param_importances`` would on a loaded study.
"""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import TrialState

from hpo.errors import StoreStateError
from hpo.query.meta import StudyMeta
from hpo.query.models import Importances

MIN_TRIALS = 2


def param_importances(storage: optuna.storages.RDBStorage, meta: StudyMeta) -> Importances:
    study = optuna.Study(study_name=meta.study_name, storage=storage)
    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if n_complete < MIN_TRIALS:
        raise StoreStateError(
            f"importances need at least {MIN_TRIALS} COMPLETE trials, but study "
            f"{meta.study_name!r} has {n_complete}",
            fix="wait for more trials to complete",
        )
    with warnings.catch_warnings():  # "too few trials" warnings: n_trials says it already
        warnings.simplefilter("ignore")
        # Imported here: optuna.importance imports scikit-learn (seconds), and every worker
        # imports hpo.query (through hpo.store) without ever asking for importances.
        from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

        values = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
    return Importances(
        study_name=meta.study_name,
        n_trials=n_complete,
        importances={name: float(v) for name, v in values.items()},
    )
