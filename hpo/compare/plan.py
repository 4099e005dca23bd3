"""Planning a comparison: (samplers x seeds) -> one :class:`~hpo.study_setup.StudyPlan` each,
checked before anything runs, with fair budgets.

Fair budgets. Every sampler gets the same budget N of finished trials, except grid, whose size G
is fixed by the spec:

* ``G <= N``: grid runs all G points once and stops there; the report says it was capped at G.
* ``G > N``: taking the first N points of the cartesian product would search one corner of the
  space (the last axis varies fastest), which no one could defend. Instead the grid is *thinned
  evenly*: each axis keeps evenly spaced values (both ends kept when it keeps two or more), with
  the number of values per axis chosen greedily so that the product is as large as possible but
  at most N (the axis keeping the fewest values grows first). Grid then runs G' <= N points,
  and the report says so.

Grid search is deterministic: every seed would run the same points and get the same values. It
runs once (the first seed) and that one run stands for every seed in the statistics.

Worker counts. ``workers`` is how many in-process workers run each study. Given several counts
(``--workers 1,4``), the worker count becomes a compared dimension: the arms of the comparison
are (sampler, workers) pairs labelled ``tpe@w4``, each with its studies per seed, and the report
tests them against each other like samplers (what parallelism costs a search). With one count
the arms are the samplers, labelled by name.

Several objectives. The runs are compared by the hypervolume of their feasible fronts against a
stated reference point (:mod:`hpo.compare.hypervolume`): resolved here, so that a missing or
misnamed point is refused before any study exists; samplers that optimise one objective
(cmaes) are refused as ``hpo tune`` refuses them.

Study names are ``{group}-{sampler}-s{seed}``, or ``{group}-{sampler}-w{workers}-s{seed}`` when
worker counts are compared.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from hpo.compare.hypervolume import HypervolumeBasis, resolve_basis
from hpo.errors import ConfigError, HpoError
from hpo.samplers import build_sampler
from hpo.search_spaces.checks import check_spec
from hpo.search_spaces.schema import CategoricalParam, SearchSpaceSpec
from hpo.study_setup import StudyPlan

MAX_STUDIES = 200
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}$")


class MemberPlan(BaseModel):
    """One study of a comparison: a sampler, a seed, its plan and the budget it really gets."""

    model_config = ConfigDict(frozen=True)

    sampler: str
    seed: int
    #: In-process workers running this study.
    workers: int = 1
    #: The arm it belongs to: the sampler's name, or ``sampler@wN`` when worker counts are
    #: compared.
    arm: str = ""
    plan: StudyPlan
    #: Seeds this study stands for (grid: all of them; otherwise its own).
    stands_for: tuple[int, ...]
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _arm_defaults_to_sampler(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("arm"):
            return {**data, "arm": data.get("sampler", "")}
        return data

    @property
    def study_name(self) -> str:
        return self.plan.study_name

    @property
    def budget(self) -> int:
        return self.plan.n_trials


class ComparisonPlan(BaseModel):
    """Every study of a comparison group, validated; crosses process boundaries as plain data."""

    model_config = ConfigDict(frozen=True)

    group: str
    spec: SearchSpaceSpec
    samplers: tuple[str, ...]
    seeds: tuple[int, ...]
    n_trials: int
    members: tuple[MemberPlan, ...]
    #: Worker counts compared (one count: the workers of every study).
    workers: tuple[int, ...] = (1,)
    #: Several objectives: what the runs' fronts are measured against (None: one objective).
    hypervolume: HypervolumeBasis | None = None

    @property
    def arms(self) -> tuple[str, ...]:
        """The compared arms in order: samplers, or (sampler, workers) labels."""
        return tuple(dict.fromkeys(m.arm for m in self.members))

    def members_of(self, arm: str) -> list[MemberPlan]:
        return [m for m in self.members if m.arm == arm]


def arm_label(sampler: str, workers: int, compared: bool) -> str:
    """``tpe`` or, when worker counts are compared, ``tpe@w4``."""
    return f"{sampler}@w{workers}" if compared else sampler


def worker_list(workers: int | Sequence[int]) -> tuple[int, ...]:
    """Worker counts, each at least 1, none repeated."""
    out = (workers,) if isinstance(workers, int) else tuple(int(w) for w in workers)
    if not out:
        raise ConfigError("--workers must give at least one worker count, e.g. 1 or 1,4")
    if any(w < 1 for w in out):
        raise ConfigError(f"--workers must be at least 1, but got {','.join(map(str, out))}")
    if len(set(out)) != len(out):
        raise ConfigError(f"--workers must not repeat a count, but got {','.join(map(str, out))}")
    return out


def default_group_name(spec: SearchSpaceSpec) -> str:
    return f"{spec.name}-cmp-{uuid.uuid4().hex[:6]}"


def seed_list(seeds: int | Sequence[int]) -> tuple[int, ...]:
    """``K`` means seeds 0..K-1; a sequence is taken as given."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, but got {seeds}")
        return tuple(range(seeds))
    out = tuple(int(s) for s in seeds)
    if not out:
        raise ConfigError("a comparison needs at least one seed, but got none")
    if len(set(out)) != len(out):
        raise ConfigError(f"seeds must not repeat, but got {list(out)}")
    return out


def plan_comparison(
    spec: SearchSpaceSpec,
    samplers: Sequence[str],
    n_trials: int,
    seeds: int | Sequence[int],
    *,
    group: str | None = None,
    source: str = "<spec>",
    workers: int | Sequence[int] = 1,
    reference_point: Mapping[str, float] | None = None,
) -> ComparisonPlan:
    """Expand (samplers x seeds) into study plans; raise an :class:`~hpo.errors.HpoError` for
    anything that cannot work (unknown sampler, CMA-ES on a categorical-only space or on several
    objectives, a grid that cannot be built, a front with no reference point...) before any
    study exists. ``reference_point`` (``--reference-point``) wins over the spec's."""
    basis = resolve_basis(spec, reference_point, source=source)
    names = tuple(s.strip() for s in samplers if s.strip())
    if not names:
        raise ConfigError("--samplers must name at least one sampler, e.g. random,tpe")
    if len(set(names)) != len(names):
        raise ConfigError(f"--samplers must not repeat a sampler, but got {','.join(names)}")
    if not 1 <= n_trials <= 1_000_000:
        raise ConfigError(f"--n-trials must be between 1 and 1000000, but got {n_trials}")
    seed_tuple = seed_list(seeds)
    counts = worker_list(workers)
    compared = len(counts) > 1
    group = group or default_group_name(spec)
    if not _GROUP.match(group):
        raise ConfigError(
            f"a comparison group name must be 1-120 letters, digits, '_', '-' or '.', "
            f"but got {group!r}",
            fix="pass another --group name",
        )
    check_spec(spec, names[0], source=source)  # objective, dataset, metric
    for name in names:  # every sampler must fit the space, before anything runs
        try:
            build_sampler(name, spec, seed_tuple[0])
        except HpoError as exc:
            exc.where = exc.where or f"{source}: --samplers {name}"
            raise
    members: list[MemberPlan] = []
    for name in names:
        for count in counts:
            arm = arm_label(name, count, compared)
            prefix = f"{group}-{name}-w{count}" if compared else f"{group}-{name}"
            if name == "grid":
                grid = _grid_member(spec, prefix, n_trials, seed_tuple)
                members.append(grid.model_copy(update={"workers": count, "arm": arm}))
                continue
            note = _fallback_note(spec, name)
            for seed in seed_tuple:
                plan = StudyPlan(
                    study_name=f"{prefix}-s{seed}",
                    spec=spec,
                    sampler=name,
                    n_trials=n_trials,
                    seed=seed,
                )
                members.append(
                    MemberPlan(
                        sampler=name,
                        seed=seed,
                        workers=count,
                        arm=arm,
                        plan=plan,
                        stands_for=(seed,),
                        note=note,
                    )
                )
    if len(members) > MAX_STUDIES:
        raise ConfigError(
            f"a comparison may hold at most {MAX_STUDIES} studies, but "
            f"{len(names)} samplers x {len(counts)} worker counts x {len(seed_tuple)} seeds "
            f"make {len(members)}",
            fix="use fewer seeds, samplers or worker counts",
        )
    return ComparisonPlan(
        group=group,
        spec=spec,
        samplers=names,
        seeds=seed_tuple,
        n_trials=n_trials,
        members=tuple(members),
        workers=counts,
        hypervolume=basis,
    )


def _fallback_note(spec: SearchSpaceSpec, sampler: str) -> str | None:
    categorical = [n for n, p in spec.params.items() if isinstance(p, CategoricalParam)]
    if sampler in ("cmaes", "qmc") and categorical:
        return (
            f"{sampler} samples the categorical param(s) {', '.join(categorical)} at random "
            "(its independent fallback)"
        )
    return None


def grid_axes(spec: SearchSpaceSpec) -> list[tuple[str, list[Any]]]:
    """The grid's values per param (explicit ``grid`` values, else the param's own)."""
    axes: list[tuple[str, list[Any]]] = []
    for name, param in spec.params.items():
        if spec.grid is not None and name in spec.grid:
            axes.append((name, list(spec.grid[name])))
        else:
            axes.append((name, param.grid_values()))
    return axes


def thin_counts(sizes: Sequence[int], budget: int) -> list[int]:
    """Values to keep per axis: product as large as possible but at most ``budget``, spread
    evenly (the axis that keeps the fewest values grows first, then the one that keeps the
    smallest share of its values)."""
    counts = [1] * len(sizes)
    product = 1
    while True:
        order = sorted(range(len(sizes)), key=lambda i: (counts[i], counts[i] / sizes[i], i))
        for i in order:
            if counts[i] < sizes[i] and product // counts[i] * (counts[i] + 1) <= budget:
                product = product // counts[i] * (counts[i] + 1)
                counts[i] += 1
                break
        else:
            return counts


def even_pick(values: Sequence[Any], k: int) -> list[Any]:
    """``k`` evenly spaced values of ``values``, both ends kept when ``k >= 2``."""
    n = len(values)
    if k >= n:
        return list(values)
    if k == 1:
        return [values[(n - 1) // 2]]
    return [values[round(i * (n - 1) / (k - 1))] for i in range(k)]


def _grid_member(
    spec: SearchSpaceSpec, prefix: str, n_trials: int, seeds: tuple[int, ...]
) -> MemberPlan:
    axes = grid_axes(spec)
    sizes = [len(values) for _, values in axes]
    size = math.prod(sizes)
    shape = " x ".join(map(str, sizes))
    if size <= n_trials:
        budget = size
        note = (
            f"grid has {size} points ({shape}): capped at {size} trials, below the budget of "
            f"{n_trials} the other samplers get"
            if size < n_trials
            else None
        )
    else:
        counts = thin_counts(sizes, n_trials)
        thinned = {
            name: tuple(even_pick(values, k))
            for (name, values), k in zip(axes, counts, strict=True)
        }
        spec = spec.model_copy(update={"grid": thinned})
        budget = math.prod(counts)
        note = (
            f"grid has {size} points ({shape}), more than the budget of {n_trials}: thinned "
            f"evenly to {budget} points ({' x '.join(map(str, counts))}, evenly spaced values "
            f"per axis, ends kept)"
        )
    if len(seeds) > 1:
        once = f"grid is deterministic: it runs once and that run stands for all {len(seeds)} seeds"
        note = f"{note}; {once}" if note else once
    plan = StudyPlan(
        study_name=f"{prefix}-s{seeds[0]}",
        spec=spec,
        sampler="grid",
        n_trials=budget,
        seed=seeds[0],
    )
    return MemberPlan(
        sampler="grid", seed=seeds[0], arm="grid", plan=plan, stands_for=seeds, note=note
    )
