"""Trials of one study by state: the one counts-by-state type of the package (storage layer, so
the store, the claims, the reports and the query API all count in it).

Fields are Optuna's trial states, lower-cased (``fail`` for ``TrialState.FAIL``). A budget counts
*finished* trials (COMPLETE and PRUNED); a *slot* is a trial that is neither FAIL nor WAITING
(see ``hpo.claims``). The claim's own cheap bound, which does not split finished trials by state,
is :class:`hpo.storage.budget.SlotCounts`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict


class StateCounts(BaseModel):
    """Trials of one study by state."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings")

    running: int = 0
    waiting: int = 0
    complete: int = 0
    pruned: int = 0
    fail: int = 0

    @property
    def total(self) -> int:
        return self.running + self.waiting + self.complete + self.pruned + self.fail

    @property
    def finished(self) -> int:
        """COMPLETE and PRUNED trials: what a budget counts (see ``hpo.claims``)."""
        return self.complete + self.pruned

    @property
    def slots_taken(self) -> int:
        """RUNNING, COMPLETE and PRUNED trials: the slots of the budget in use."""
        return self.running + self.complete + self.pruned

    @classmethod
    def from_rows(cls, rows: Mapping[str, int]) -> StateCounts:
        """From ``{state name: count}`` as SQL groups them (``{"COMPLETE": 3, "FAIL": 1}``)."""
        return cls(**{state.lower(): int(n) for state, n in rows.items()})
