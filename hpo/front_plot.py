"""The Pareto front of a study of several objectives as a small PNG (:mod:`hpo.plots`'
conventions: a bare matplotlib ``Figure``, Agg, about 20 KB): for two objectives a scatter of
every COMPLETE trial with the front highlighted (infeasible trials crossed out), beyond two a
parallel-coordinates view (each objective scaled to [0, 1], front trials drawn over the rest).
Execution layer, beside :mod:`hpo.plots`."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial, TrialState

from hpo.pareto import is_feasible, pareto_front
from hpo.search_spaces.schema import Direction

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_ALL, _FRONT, _BAD = "#9bbbd9", "#d62728", "#7f7f7f"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def front_png(
    trials: Sequence[FrozenTrial],
    directions: Sequence[Direction],
    names: Sequence[str],
    title: str,
) -> bytes:
    """The front plot of ``trials`` (COMPLETE ones are drawn; the rest are ignored)."""
    from matplotlib.figure import Figure

    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.values and len(t.values) == len(directions)
    ]
    front = pareto_front(done, directions)
    on_front = {t.number for t in front}
    labels = [
        f"{n} ({'max' if d == 'maximize' else 'min'})"
        for n, d in zip(names, directions, strict=True)
    ]
    fig = Figure(figsize=(6.0, 3.6), dpi=80, layout="constrained")  # hpo.plots' size and dpi
    ax = fig.add_subplot()
    ax.set_title(f"Pareto front · {title} ({len(front)} of {len(done)} trials)", fontsize=10)
    if not done:
        ax.text(0.5, 0.5, "no completed trial yet", ha="center", transform=ax.transAxes)
        return _png(fig)
    feasible = [t for t in done if is_feasible(t) and t.number not in on_front]
    infeasible = [t for t in done if not is_feasible(t)]
    if len(directions) == 2:
        for group, color, marker, label in (
            (feasible, _ALL, "o", "trial"),
            (infeasible, _BAD, "x", "infeasible"),
        ):
            if group:
                xs0 = [t.values[0] for t in group]
                ax.scatter(xs0, [t.values[1] for t in group], s=12, c=color, marker=marker)
                ax.collections[-1].set_label(label)
        points = sorted((t.values[0], t.values[1]) for t in front)
        ax.plot(
            *zip(*points, strict=True), color=_FRONT, marker="o", markersize=4, label="Pareto front"
        )
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.legend(fontsize=7)
        return _png(fig)
    lows = [min(t.values[i] for t in done) for i in range(len(directions))]
    highs = [max(t.values[i] for t in done) for i in range(len(directions))]

    def scaled(t: FrozenTrial) -> list[float]:
        return [
            (v - lo) / (hi - lo) if hi > lo else 0.5
            for v, lo, hi in zip(t.values, lows, highs, strict=True)
        ]

    xs = list(range(len(directions)))
    for group, color, width in (
        (feasible, _ALL, 0.6),
        (infeasible, _BAD, 0.6),
        (front, _FRONT, 1.4),
    ):
        for t in group:
            ax.plot(xs, scaled(t), color=color, linewidth=width, antialiased=False)
    ax.set_xticks(xs, labels, fontsize=7)
    ax.set_ylabel("scaled to [0, 1] over the trials")
    return _png(fig)
