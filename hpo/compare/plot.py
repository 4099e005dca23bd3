"""The convergence plot of a comparison: a PNG drawn on a bare matplotlib ``Figure`` (rendered
by the Agg backend; pyplot is not used, so no display and no global backend state).

Left: per sampler, the median best-so-far (regret on a log scale when the optimum is known; with
several objectives the hypervolume, or hypervolume regret, of the front so far) after each
finished trial, with the interquartile band over seeds and the target as a dashed line.
Right: every run's best value at the budget, one dot per run, the median as a bar.
"""

from __future__ import annotations

from pathlib import Path

from hpo.compare.models import ComparisonReport

_FLOOR = 1e-9  # regrets are drawn no lower than this on the log scale


def plot_convergence(report: ComparisonReport, path: Path) -> Path:
    """Draw ``report``'s convergence and final-value plots into ``path`` (PNG)."""
    from matplotlib.figure import Figure

    regret = report.regret

    def shown(v: float | None) -> float | None:
        if v is None:
            return None
        return max(report.shown(v), _FLOOR) if regret else v

    fig = Figure(figsize=(11, 4.5), dpi=110)
    curves, finals = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    for i, result in enumerate(report.results):
        color = f"C{i}"
        xs = [k + 1 for k, v in enumerate(result.curve) if v is not None]
        med = [shown(v) for v in result.curve if v is not None]
        lo = [shown(v) for v in result.curve_q1 if v is not None]
        hi = [shown(v) for v in result.curve_q3 if v is not None]
        n = len(result.studies)
        label = f"{result.sampler} ({n} run{'s' if n != 1 else ''})"
        if result.deterministic:
            label = f"{result.sampler} (1 run, deterministic)"
        curves.plot(xs, med, color=color, label=label, linewidth=1.8)
        curves.fill_between(xs, lo, hi, color=color, alpha=0.18, linewidth=0)
        ys = [shown(v) for v in result.final_values if v is not None]
        finals.scatter([i] * len(ys), ys, color=color, alpha=0.7, s=22)
        if result.best is not None:
            finals.hlines(shown(result.best.median), i - 0.3, i + 0.3, color=color, linewidth=2)
    if report.target is not None:
        target = shown(report.target)
        for ax in (curves, finals):
            ax.axhline(target, color="grey", linestyle="--", linewidth=1)
    metric = "simple regret" if report.metric == "regret" else report.metric
    if regret:
        curves.set_yscale("log")
        finals.set_yscale("log")
    curves.set_xlabel("finished trials")
    curves.set_ylabel(f"{metric} so far (median, IQR band)")
    curves.set_title(f"{report.spec_name}: convergence over {len(report.seeds)} seeds")
    curves.legend(loc="best", fontsize=8)
    curves.grid(True, alpha=0.3)
    finals.set_xticks(range(len(report.results)), [r.sampler for r in report.results])
    finals.set_ylabel(f"{metric} at {report.n_trials} trials")
    finals.set_title("per run (bar: median)")
    finals.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
