"""Comparisons of several objectives: each run's front measured by its hypervolume against a
stated reference point, so that the report's statistics, tests and verdict (one number per run,
higher is better) apply unchanged.

The reference point is *stated*, never guessed from the runs (a point taken from the data would
move with the samplers compared): ``--reference-point f1=11,f2=11`` wins, then the spec's
``reference_point:`` map, then the known point of a benchmark problem with a known front (zdt1,
zdt2: (11, 11)). None of them -> :class:`~hpo.errors.ConfigError` before anything runs. On a
benchmark problem measured at its own reference point the optimal hypervolume is known, and the
report shows hypervolume regret (the known front's hypervolume minus the run's), the way
branin's known minimum gives simple regret.

A run's hypervolume after k finished trials is that of the feasible COMPLETE trials among its
first k (:func:`hpo.pareto.hypervolume`, which ignores dominated points and points not better
than the reference on every objective); 0 before there is one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from hpo.compare.traces import RunTrace
from hpo.errors import ConfigError
from hpo.objectives_spec import objective_names, study_directions
from hpo.pareto import hypervolume, non_dominated
from hpo.search_spaces.schema import Direction, SearchSpaceSpec
from hpo.workers.objectives.pareto_problems import PARETO_PROBLEMS

CLI_FLAG = "--reference-point"


class HypervolumeBasis(BaseModel):
    """What a comparison of fronts measures against: the objectives, the reference point (in
    the objectives' own orientation), where the point came from, and the optimal hypervolume
    when the true front is known."""

    model_config = ConfigDict(frozen=True)

    metrics: tuple[str, ...]
    directions: tuple[Direction, ...]
    reference_point: tuple[float, ...]
    #: ``--reference-point``, ``the spec's reference_point`` or ``known for zdt1``.
    source: str
    #: The true front's hypervolume against ``reference_point`` (benchmark problems at their
    #: own reference point), else None.
    optimal: float | None = None

    def describe(self) -> str:
        """``f1=11, f2=11``."""
        pairs = zip(self.metrics, self.reference_point, strict=True)
        return ", ".join(f"{m}={v:g}" for m, v in pairs)


def parse_reference_point(raw: str) -> dict[str, float]:
    """``f1=11,f2=11`` -> ``{"f1": 11.0, "f2": 11.0}``; ConfigError naming the flag otherwise."""
    fix = f"give one finite value per objective metric, e.g. {CLI_FLAG} f1=11,f2=11"
    out: dict[str, float] = {}
    for part in (p.strip() for p in raw.split(",")):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name or not math.isfinite(number):
            raise ConfigError(
                f"{CLI_FLAG} takes metric=value pairs separated by commas, but got {part!r}",
                where=CLI_FLAG,
                fix=fix,
            )
        if name in out:
            raise ConfigError(f"{CLI_FLAG} gives {name!r} twice", where=CLI_FLAG, fix=fix)
        out[name] = number
    return out


def resolve_basis(
    spec: SearchSpaceSpec,
    given: Mapping[str, float] | None = None,
    *,
    source: str = "<spec>",
) -> HypervolumeBasis | None:
    """The hypervolume basis of a comparison on ``spec`` (None: one objective, compared by its
    best value); ``given`` is ``--reference-point``. ConfigError when no point is stated or it
    does not name exactly the spec's objectives."""
    names = tuple(objective_names(spec))
    if not spec.multi_objective:
        if given is not None:
            raise ConfigError(
                f"{CLI_FLAG} is the hypervolume reference of a front, but spec {spec.name!r} "
                f"has one objective ({names[0]})",
                where=CLI_FLAG,
                fix=f"drop {CLI_FLAG}, or compare a spec with several `objectives`",
            )
        return None
    problem = PARETO_PROBLEMS.get(spec.objective)
    if given is not None:
        point, origin, where = dict(given), CLI_FLAG, CLI_FLAG
    elif spec.reference_point is not None:
        point, origin, where = dict(spec.reference_point), "the spec's reference_point", source
    elif problem is not None and problem.metrics == names:
        point = dict(zip(problem.metrics, problem.reference_point, strict=True))
        origin, where = f"known for {problem.name}", source
    else:
        example = ",".join(f"{n}=..." for n in names)
        raise ConfigError(
            f"comparing fronts measures each by its hypervolume against a reference point, but "
            f"spec {spec.name!r} states none for its objectives ({', '.join(names)})",
            where=f"{source}: reference_point",
            fix=f"add `reference_point: {{{', '.join(f'{n}: ...' for n in names)}}}` to the "
            f"spec (a value per objective, worse than any front point that should count), or "
            f"pass {CLI_FLAG} {example}",
        )
    if set(point) != set(names):
        raise ConfigError(
            f"the reference point must give one value per objective ({', '.join(names)}), but "
            f"it gives {', '.join(point)}",
            where=where,
            fix=f"key it by the spec's objective metrics, e.g. {CLI_FLAG} "
            + ",".join(f"{n}=..." for n in names),
        )
    reference = tuple(point[n] for n in names)
    optimal = None
    if problem is not None and problem.metrics == names and reference == problem.reference_point:
        optimal = problem.optimal_hypervolume
    return HypervolumeBasis(
        metrics=names,
        directions=tuple(study_directions(spec)),
        reference_point=reference,
        source=origin,
        optimal=optimal,
    )


def hypervolume_curve(
    points: Sequence[Sequence[float] | None], basis: HypervolumeBasis
) -> list[float]:
    """The hypervolume of the feasible points so far, after each finished trial (None: a trial
    with no point: pruned or infeasible). Non-decreasing by construction."""
    front: list[Sequence[float]] = []  # the non-dominated points so far
    out: list[float] = []
    current = 0.0
    for point in points:
        if point is not None:
            candidates = [*front, point]
            front = [candidates[i] for i in non_dominated(candidates, basis.directions)]
            if front and front[-1] is point:  # on the front: the volume may have grown
                found = hypervolume(front, basis.directions, basis.reference_point)
                current = max(current, found)
        out.append(current)
    return out


def hypervolume_trace(trace: RunTrace, basis: HypervolumeBasis) -> RunTrace:
    """``trace`` with its values replaced by the hypervolume after each finished trial: the
    report then ranks, tests and draws it like a best-so-far value (maximised)."""
    if trace.points is None:
        raise ValueError(
            f"trace {trace.study_name!r} holds no points: load it with "
            f"load_traces(..., objectives={len(basis.metrics)})"
        )
    return trace.model_copy(update={"values": tuple(hypervolume_curve(trace.points, basis))})
