"""Creating, opening and resuming studies in the store from a plan, and finding one by name
(core layer).

A study created here is a plain Optuna study (stock ``optuna.load_study`` and optuna-dashboard
read it); what the service adds is kept in study user attributes under ``hpo.*``: the spec it was
made from (and its hash), the sampler, and the budget. A fast store (``hpo.storage``) is handed
to Optuna through its direct view, so Optuna's own trial cache does not wrap it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from hpo.errors import StoreStateError
from hpo.objectives_spec import objective_names, study_directions
from hpo.samplers import build_pruner, build_sampler
from hpo.search_spaces.schema import Direction, SearchSpaceSpec
from hpo.storage import optuna_storage
from hpo.store import LOCK_NAMESPACE


class StudyPlan(BaseModel):
    """Everything a worker needs to join a study; crosses process boundaries as plain data
    (it holds no secret: workers find the store through their own settings)."""

    model_config = ConfigDict(frozen=True)

    study_name: str
    spec: SearchSpaceSpec
    sampler: str
    n_trials: int
    seed: int

    @property
    def direction(self) -> Direction:
        return effective_direction(self.spec)

    @property
    def directions(self) -> list[Direction]:
        """One per objective (several: ``objectives:`` in the spec, see hpo.objectives_spec)."""
        return study_directions(self.spec)


def effective_direction(spec: SearchSpaceSpec) -> Direction:
    """The spec's direction, or its metric's natural one, or minimize (the first objective's,
    for a spec of several)."""
    return study_directions(spec)[0]


def spec_hash(spec: SearchSpaceSpec) -> str:
    """A stable hash of the search space (params and grid), for lineage."""
    payload = json.dumps(spec.model_dump(mode="json", include={"params", "grid"}), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def open_study(plan: StudyPlan, storage: optuna.storages.RDBStorage) -> optuna.Study:
    """Create the study, or resume it when it exists; refuse a resume that contradicts it."""
    check_resume(plan, storage)
    sampler = build_sampler(plan.sampler, plan.spec, plan.seed)
    pruner = build_pruner(plan.spec.pruner)
    study = optuna.create_study(
        study_name=plan.study_name,
        storage=optuna_storage(storage),
        sampler=sampler,
        pruner=pruner,
        directions=plan.directions,
        load_if_exists=True,
    )
    existing = [d.name.lower() for d in study.directions]
    if existing != plan.directions:
        raise StoreStateError(
            f"study {plan.study_name!r} already exists with direction(s) {existing}, "
            f"but this run asks for {plan.directions}",
            fix="pass another --study name, or fix `direction` in the spec",
        )
    attrs: dict[str, Any] = {
        "hpo.spec_name": plan.spec.name,
        "hpo.objective": plan.spec.objective,
        "hpo.dataset": plan.spec.dataset,
        "hpo.metric": plan.spec.metric,
        "hpo.sampler": plan.sampler,
        "hpo.n_trials": plan.n_trials,
        "hpo.spec_hash": spec_hash(plan.spec),
        "hpo.spec": plan.spec.model_dump(mode="json"),
    }
    for key, value in attrs.items():
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)
    if study.metric_names != (names := objective_names(plan.spec)):
        study.set_metric_names(names)  # optuna-dashboard's axis labels (not "Objective 0")
    if plan.sampler == "grid":
        enqueue_grid(study, storage, plan)
    return study


def study_id_of(storage: optuna.storages.RDBStorage, study_name: str) -> int:
    """The id of the study named ``study_name``, or a :class:`StoreStateError` saying how to
    list the studies there are."""
    try:
        return storage.get_study_id_from_name(study_name)
    except KeyError:
        raise StoreStateError(
            f"no study named {study_name!r} in the study store",
            fix="list the studies with `hpo studies list`",
        ) from None


def check_resume(plan: StudyPlan, storage: optuna.storages.RDBStorage) -> None:
    """Refuse, before anything is written, to resume a study made from another search space or
    objective: its stored trials would not fit the plan (new trials would fail) and its
    recorded spec would be overwritten. A new budget or sampler is a resume; nothing else is."""
    try:
        study_id = storage.get_study_id_from_name(plan.study_name)
    except KeyError:
        return  # a new study
    directions = [d.name.lower() for d in storage.get_study_directions(study_id)]
    differences = resume_conflicts(plan, storage.get_study_user_attrs(study_id), directions)
    if differences:
        raise StoreStateError(
            f"study {plan.study_name!r} already exists with a different " + "; ".join(differences),
            fix="pass a new --study name for the new spec, or resume with the spec the study "
            "was made from",
        )


def resume_conflicts(
    plan: StudyPlan, stored_attrs: dict[str, Any], stored_directions: list[str]
) -> list[str]:
    """What the stored study (its ``hpo.*`` user attributes and directions) and ``plan``
    disagree on, in words: ``"direction: 'maximize' -> 'minimize'"``; empty when it may resume."""
    found: list[str] = []
    if stored_directions and stored_directions != plan.directions:
        old, new = ", ".join(stored_directions), ", ".join(plan.directions)
        found.append(f"direction: {old!r} -> {new!r}")
    stored_spec = stored_attrs.get("hpo.spec")
    if not isinstance(stored_spec, dict):
        return found  # made outside the service (plain Optuna): only the direction is known
    new_spec = plan.spec.model_dump(mode="json")
    old_params: dict[str, Any] = stored_spec.get("params") or {}
    new_params: dict[str, Any] = new_spec["params"]
    changed = [
        f"{name} {_brief(old_params.get(name))} -> {_brief(new_params.get(name))}"
        for name in sorted(set(old_params) | set(new_params))
        if old_params.get(name) != new_params.get(name)
    ]
    if changed:
        found.append("search space (" + ", ".join(changed) + ")")
    if (stored_spec.get("grid") or None) != (new_spec.get("grid") or None):
        found.append("grid")
    for field in ("objective", "dataset", "metric"):
        if stored_spec.get(field) != new_spec.get(field):
            found.append(f"{field}: {stored_spec.get(field)!r} -> {new_spec.get(field)!r}")
    for field in ("objectives", "constraints"):  # absent from specs stored before issue 15
        if (stored_spec.get(field) or None) != (new_spec.get(field) or None):
            found.append(field)
    return found


def _brief(param: Any) -> str:
    if param is None:
        return "(none)"
    if param.get("type") == "categorical":
        return f"categorical {list(param.get('choices', []))}"
    scale = " log" if param.get("log") else ""
    return f"{param.get('type')} [{param.get('low')}, {param.get('high')}]{scale}"


def join_study(plan: StudyPlan, storage: optuna.storages.RDBStorage) -> optuna.Study:
    """Load an existing study with the plan's sampler and pruner (workers)."""
    return optuna.load_study(
        study_name=plan.study_name,
        storage=optuna_storage(storage),
        sampler=build_sampler(plan.sampler, plan.spec, plan.seed),
        pruner=build_pruner(plan.spec.pruner),
    )


def enqueue_grid(study: optuna.Study, storage: optuna.storages.RDBStorage, plan: StudyPlan) -> int:
    """Enqueue the grid points the study has not seen yet, up to the budget; returns how many.

    Runs under the study's advisory lock so two coordinators never enqueue the same point.
    """
    points = plan.spec.grid_points()[: plan.n_trials]
    with storage.engine.connect() as conn, conn.begin():
        key = {"ns": LOCK_NAMESPACE, "sid": study._study_id}
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :sid)"), key)
        # Any trial counts, whatever its state: a point runs once, even if it failed.
        seen = {
            _point_key(t.system_attrs.get("fixed_params") or t.params)
            for t in study.get_trials(deepcopy=False)
        }
        new = [p for p in points if _point_key(p) not in seen]
        for point in new:
            study.enqueue_trial(point, skip_if_exists=False)
        return len(new)


def _point_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def warm_start(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    source_study: str,
    spec: SearchSpaceSpec,
    top_k: int,
) -> int:
    """Enqueue the params of ``source_study``'s best ``top_k`` completed trials (those that lie
    inside ``spec``'s space) so they run first; returns how many were enqueued."""
    try:
        source = optuna.load_study(study_name=source_study, storage=storage)
    except KeyError:
        return 0
    done = [t for t in source.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    reverse = source.direction == optuna.study.StudyDirection.MAXIMIZE
    done.sort(key=lambda t: t.value if t.value is not None else 0.0, reverse=reverse)
    count = 0
    for trial in done:
        if count >= top_k:
            break
        params = trial.params
        if set(params) != set(spec.params) or not all(
            spec.params[k].contains(v) for k, v in params.items()
        ):
            continue
        study.enqueue_trial(
            params, user_attrs={"warm_start_from": f"{source_study}#{trial.number}"}
        )
        count += 1
    return count


def latest_study(storage: optuna.storages.RDBStorage, prefix: str, *, exclude: str) -> str | None:
    """The most recently created study whose name starts with ``prefix``."""
    with storage.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT study_name FROM studies WHERE study_name LIKE :p AND study_name <> :x "
                "ORDER BY study_id DESC LIMIT 1"
            ),
            {"p": prefix.replace("%", r"\%").replace("_", r"\_") + "%", "x": exclude},
        ).first()
    return str(row[0]) if row else None
