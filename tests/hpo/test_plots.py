"""The study plots (no Prefect): best so far, importances that find the parameter that matters,
PNGs of the expected size, and relative PNG links inlined as data URIs."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import optuna
import pytest

from hpo.plots import (
    best_so_far,
    history_png,
    importances,
    importances_png,
    inline_images,
    params_png,
    plots_markdown,
)


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.fixture(scope="module")
def trials() -> list[optuna.trial.FrozenTrial]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    # x decides the value; noise barely matters; kind is a categorical that does not.
    study.optimize(
        lambda t: (
            (t.suggest_float("x", -5, 5) - 1) ** 2
            + 1e-3 * t.suggest_float("noise", 1e-3, 1.0, log=True)
            + 0 * len(t.suggest_categorical("kind", ["a", "bb"]))
        ),
        n_trials=40,
    )
    return study.trials


def test_best_so_far_follows_the_direction() -> None:
    assert best_so_far([3.0, 1.0, 2.0, 0.5], maximize=False) == [3.0, 1.0, 1.0, 0.5]
    assert best_so_far([3.0, 1.0, 4.0, 0.5], maximize=True) == [3.0, 3.0, 4.0, 4.0]
    assert best_so_far([], maximize=True) == []


def test_importances_rank_the_parameter_that_decides_the_value_first(
    trials: list[optuna.trial.FrozenTrial],
) -> None:
    ranked = importances(trials, maximize=False)
    assert set(ranked) == {"x", "noise", "kind"}
    assert list(ranked)[0] == "x"
    assert importances(trials[:19], maximize=False) == {}  # too few: no plot data, no error


def test_plots_are_small_pngs(trials: list[optuna.trial.FrozenTrial]) -> None:
    ranked = importances(trials, maximize=False)
    history = history_png(trials, False, "s")
    bars = importances_png(ranked, "s")
    params = params_png(trials, list(ranked), "s")
    assert _size(history) == (480, 256) and _size(bars) == (480, 256)
    assert _size(params) == (480, 176)  # 3 params: one row of three
    assert all(len(p) < 60_000 for p in (history, bars, params))
    assert _size(history_png([], False, "empty")) == (480, 256)  # no trial yet: still a plot
    md = plots_markdown("s", {"history": history}, n_complete=40)
    assert "40 completed trials" in md and "![history](data:image/png;base64," in md


def test_inline_images_turns_relative_png_links_into_data_uris(tmp_path: Path) -> None:
    (tmp_path / "convergence.png").write_bytes(b"\x89PNG fake")
    md = "# r\n![convergence](convergence.png)\n![gone](missing.png)\n![web](http://x/y.png)"
    out = inline_images(md, tmp_path)
    uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    assert f"![convergence]({uri})" in out
    assert "![gone](missing.png)" in out and "![web](http://x/y.png)" in out
