"""The front plot: a small PNG for two objectives (scatter, front highlighted, infeasible crossed
out) and for three (parallel coordinates), drawn from plain trials."""

from __future__ import annotations

import io
import random

import optuna
from optuna.trial import TrialState, create_trial

from hpo.front_plot import front_png

PNG = b"\x89PNG\r\n\x1a\n"


def _trials(n_objectives: int) -> list[optuna.trial.FrozenTrial]:
    rng = random.Random(0)
    trials = []
    for i in range(30):
        values = [rng.random() for _ in range(n_objectives)]
        trial = create_trial(
            values=values,
            state=TrialState.COMPLETE,
            system_attrs={"constraints:x <= 0.8": values[0] - 0.8},
        )
        trial.number = i
        trials.append(trial)
    return trials


def _size(png: bytes) -> tuple[int, int]:
    from matplotlib.image import imread

    height, width = imread(io.BytesIO(png)).shape[:2]
    return width, height


def test_two_objectives_scatter() -> None:
    png = front_png(_trials(2), ["minimize", "maximize"], ["loss", "acc"], "s")
    assert png.startswith(PNG) and len(png) < 40_000
    assert _size(png) == (480, 288)  # 6 x 3.6 inches at 80 dpi, like hpo.plots


def test_three_objectives_parallel_coordinates() -> None:
    png = front_png(_trials(3), ["minimize"] * 3, ["a", "b", "c"], "s")
    assert png.startswith(PNG) and len(png) < 40_000


def test_no_trial_yet() -> None:
    assert front_png([], ["minimize", "minimize"], ["a", "b"], "s").startswith(PNG)
