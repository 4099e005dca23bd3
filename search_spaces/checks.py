"""Checks of a spec against the registries (objectives, datasets, metrics, samplers), run before
anything starts so a wrong name fails in a second with a clear message, not mid-study. Core layer
(see ARCHITECTURE.md): above the registries it checks against, unlike the rest of this folder."""

from __future__ import annotations

from hpo.errors import ConfigError, HpoError
from hpo.objectives_spec import check_objectives
from hpo.samplers import build_pruner, build_sampler
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.workers.datasets import load_dataset
from hpo.workers.metrics import check_metric_fits, get_metric
from hpo.workers.objectives.pareto_problems import is_pareto_problem
from hpo.workers.objectives.registry import is_builtin, resolve_objective
from hpo.workers.objectives.synthetic import is_synthetic


def check_spec(spec: SearchSpaceSpec, sampler: str, *, source: str = "<spec>") -> None:
    """Raise an :class:`~hpo.errors.HpoError` naming ``source`` and the field at fault."""
    field = "objective"
    try:
        resolve_objective(spec.objective)
        # Model trainers need data and a score; benchmark functions (branin, ...) need neither.
        benchmark = is_synthetic(spec.objective) or is_pareto_problem(spec.objective)
        if is_builtin(spec.objective) and not benchmark:
            for name in ("dataset", "metric"):
                if getattr(spec, name) is None:
                    raise ConfigError(
                        f"the built-in objective {spec.objective!r} needs `{name}`",
                        fix=f"add `{name}:` to the spec",
                    )
        if spec.artifacts.models is not None and is_synthetic(spec.objective):
            field = "artifacts.models"
            raise ConfigError(
                f"the objective {spec.objective!r} trains no model to store",
                fix="remove `artifacts.models`, or tune a model objective (xgboost, lightgbm, "
                "torch_mlp, or your own that calls context.save_model)",
            )
        if spec.dataset is not None:
            field = "dataset"
            dataset = load_dataset(spec.dataset)
        for where, metric_name in (("metric", spec.metric), ("pruner.metric", spec.pruner.metric)):
            if metric_name is not None:
                field = where  # named in the error, below
                metric = get_metric(metric_name)
                if spec.dataset is not None:
                    check_metric_fits(metric, dataset)
        check_objectives(spec, source=source)  # names its own field
        field = "sampler"
        build_sampler(sampler, spec, spec.seed)
        field = "pruner.options"
        build_pruner(spec.pruner)
    except HpoError as exc:
        if exc.where is None:
            exc.where = f"{source}: {field}"
        raise
