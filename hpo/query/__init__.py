"""Read-only queries over the study store: :class:`StudyClient` and the models it returns.

::

    from hpo.query import StudyClient

    client = StudyClient()                       # HPO_DATABASE_URL, or the embedded server
    client.best_trial("xgboost-breast-cancer")   # one indexed SQL query
    client.trials("xgboost-breast-cancer", state="complete", sort="best", limit=20)

See ``docs/queries.md``.
"""

from __future__ import annotations

from hpo.query.client import StudyClient
from hpo.query.export import EXPORT_FORMATS, ExportFormat
from hpo.query.fronts import FrontTrial, ParetoFront
from hpo.query.models import (
    SORT_KEYS,
    STUDY_STATES,
    TRIAL_STATES,
    Importances,
    Page,
    SortKey,
    StateCounts,
    StudyInfo,
    StudyState,
    StudySummary,
    TrialRecord,
    TrialStateName,
    WorkerTally,
)

__all__ = [
    "EXPORT_FORMATS",
    "SORT_KEYS",
    "STUDY_STATES",
    "TRIAL_STATES",
    "ExportFormat",
    "FrontTrial",
    "Importances",
    "Page",
    "ParetoFront",
    "SortKey",
    "StateCounts",
    "StudyClient",
    "StudyInfo",
    "StudyState",
    "StudySummary",
    "TrialRecord",
    "TrialStateName",
    "WorkerTally",
]
