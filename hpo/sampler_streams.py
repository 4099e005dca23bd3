"""Every trial draws from its own random stream, so parallel workers never repeat each other.

W workers of a study each build a sampler from the plan's ``--seed``. Seeded alike, they used to
draw the same points (issue 11). The rule, in one place for every sampler (``build_sampler``
wraps whatever a factory returns): the sampler that suggests trial ``n`` of a study is a fresh
instance built from the seed :func:`trial_seed` derives from ``(plan seed, n)`` with numpy's
``SeedSequence``. Trial numbers are unique in a study (Optuna numbers trials under a lock on the
study row), so no two trials share a stream, whichever worker, process or pool runs them; a
worker that restarts (a Prefect task retry, a relaunched pool run, a resumed study) goes on with
new trial numbers and never replays its own earlier draws.

What ``--seed`` then means: trial ``n`` always draws from the same stream. Samplers whose draw
depends only on that stream (random; QMC, whose point is the trial number's point of one
scrambled sequence) give the same points at any worker count. Model-based samplers (TPE, GP,
CMA-ES) also condition on the trials finished and running when trial ``n`` is asked, which with
W > 1 depends on timing: such a study is reproducible with W = 1 only.

One more rule, for the model-based samplers: a relative suggestion equal to the params of a trial
the study already holds (finished or running) is not run again; the trial draws its params from
its own stream at random instead (logged). Optuna's GPSampler re-suggests its incumbent once it
has converged on a deterministic objective (stock Optuna 5.1, one worker, branin seed 0: 4
repeats in 60 trials); the service's objectives are deterministic (fixed CV seed), so a repeat
is a trial spent learning nothing. Retries and enqueued trials keep their params (they are fixed
params, not suggestions).

The samplers read the study from storage each trial (TPE's constant liar and GP's q-batch
acquisition see the RUNNING trials; CMA-ES restores its optimizer from the trials' system
attributes), so a fresh instance per trial loses only in-memory caches (GP's kernel-parameter
warm start): it refits from the same start each trial, which also keeps a trial's suggestion a
function of the seed and the history alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from optuna.study import Study

logger = logging.getLogger(__name__)

SeededFactory = Callable[[int], optuna.samplers.BaseSampler]
_TAKEN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def trial_seed(seed: int, trial_number: int) -> int:
    """The seed of trial ``trial_number``'s sampler: a 32-bit value of ``SeedSequence(seed)``'s
    child ``trial_number`` (independent streams for distinct trial numbers)."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(trial_number,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Delegates each trial to a sampler built for that trial by ``factory(trial_seed(seed, n))``.

    One instance per worker (Optuna calls a study's sampler from the thread that asked the trial);
    the per-trial samplers are kept by trial id from ``before_trial`` to ``after_trial``, under a
    lock, so an instance shared by threads is safe too.
    """

    def __init__(self, factory: SeededFactory, seed: int) -> None:
        self._factory = factory
        self._seed = seed
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}
        self._redrawn: dict[int, optuna.samplers.BaseSampler] = {}  # trial id -> its random draw
        self._lock = threading.Lock()
        self.name = type(factory(seed)).__name__  # builds once: a factory error shows up here

    def __str__(self) -> str:
        return f"TrialSeeded({self.name}, seed={self._seed})"

    def sampler_for(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        """The sampler of ``trial`` (built on first use)."""
        with self._lock:
            sampler = self._by_trial.get(trial._trial_id)
            if sampler is None:
                sampler = self._factory(trial_seed(self._seed, trial.number))
                self._by_trial[trial._trial_id] = sampler
            return sampler

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.sampler_for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        params = self.sampler_for(trial).sample_relative(study, trial, search_space)
        if not params:
            return dict(params)
        repeated = _holder_of(study, trial, params)
        if repeated is None:
            return dict(params)
        logger.info(
            "trial %d: %s suggested the params of trial %d again; drawing at random instead",
            trial.number,
            self.name,
            repeated,
        )
        with self._lock:
            self._redrawn[trial._trial_id] = optuna.samplers.RandomSampler(
                seed=trial_seed(self._seed, trial.number)
            )
        return {}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        with self._lock:
            redrawn = self._redrawn.get(trial._trial_id)
        if redrawn is not None:
            return redrawn.sample_independent(study, trial, param_name, param_distribution)
        return self.sampler_for(trial).sample_independent(
            study, trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.sampler_for(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        try:
            self.sampler_for(trial).after_trial(study, trial, state, values)
        finally:
            with self._lock:
                self._by_trial.pop(trial._trial_id, None)
                self._redrawn.pop(trial._trial_id, None)

    def reseed_rng(self) -> None:
        pass  # streams come from the trial numbers; nothing to reseed


def _holder_of(study: Study, trial: FrozenTrial, params: dict[str, Any]) -> int | None:
    """The number of another trial (finished or running) whose params are ``params``."""
    for other in study._get_trials(deepcopy=False, states=_TAKEN_STATES, use_cache=True):
        if other.number != trial.number and other.params == params:
            return int(other.number)
    return None


class TrialNumberQMCSampler(optuna.samplers.QMCSampler):
    """Optuna's ``QMCSampler`` whose point for trial ``n`` is point ``n`` of the sequence.

    Optuna 5.1 keeps a study-wide counter in a study system attribute, read and then written
    without a lock (``QMCSampler._find_sample_id``: its own TODO says so), so two workers asking
    at once can take the same sample id and run the same point. The trial number is unique in a
    study, so it is a sample id no other worker takes. Every worker uses the same seed (one
    scrambled sequence for the whole study); only the independent sampler gets the trial's own
    seed. Given the study's ``search_space`` (the spec's), the sequence starts at trial 0; Optuna
    alone infers the space from the first trial, so the trials asked before any had params (the
    first of each of W workers starting together) fell back to the independent sampler.
    """

    _trial_number: int | None = None

    def __init__(
        self, *, search_space: dict[str, BaseDistribution] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._space = search_space

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._space is not None:
            return dict(self._space)
        return dict(super().infer_relative_search_space(study, trial))

    def _find_sample_id(self, study: Study, search_space: dict[str, BaseDistribution]) -> int:
        number = getattr(self, "_trial_number", None)
        if number is None:  # not called through sample_relative: Optuna's own counter
            return int(super()._find_sample_id(study, search_space))
        return int(number)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._trial_number = trial.number
        try:
            return dict(super().sample_relative(study, trial, search_space))
        finally:
            self._trial_number = None
