"""Comparison groups in PostgreSQL: created once, resumed with the same plan, refused with
another, and read back through the Python API."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from hpo.compare import list_groups, load_group, load_report
from hpo.compare.groups import create_group, ensure_tables, set_status
from hpo.compare.plan import plan_comparison
from hpo.errors import StoreStateError
from hpo.search_spaces.loader import load_spec
from hpo.store import get_storage


def test_tables_are_created_once_even_when_raced(pg_url: str) -> None:
    engine = get_storage().engine
    errors: list[BaseException] = []

    def create() -> None:
        try:
            ensure_tables(engine)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with engine.connect() as conn:
        names = conn.execute(
            text(
                "SELECT to_regclass('hpo_comparison_groups'), to_regclass('hpo_comparison_members')"
            )
        ).one()
    assert names == ("hpo_comparison_groups", "hpo_comparison_members")


def test_create_resume_and_refuse(pg_url: str, study_name: str) -> None:
    spec = load_spec("branin")
    plan = plan_comparison(spec, ["grid", "random"], 20, 3, group=study_name)
    record = create_group(plan, target=1.5)
    assert record.name == study_name and record.status == "running"
    assert record.spec_name == "branin" and record.objective == "branin"
    assert record.direction == "minimize" and record.target == 1.5
    assert record.n_trials == 20 and record.seeds == (0, 1, 2)
    assert record.samplers == ("grid", "random") and not record.has_report
    members = {(m.sampler, m.seed): m for m in record.members}
    assert set(members) == {("grid", 0), ("random", 0), ("random", 1), ("random", 2)}
    assert members[("grid", 0)].budget == 20
    assert members[("grid", 0)].budget_note is not None
    assert "thinned evenly to 20 points" in members[("grid", 0)].budget_note
    assert members[("random", 1)].study_name == f"{study_name}-random-s1"
    assert members[("random", 1)].budget == 20 and members[("random", 1)].budget_note is None
    assert study_name in list_groups()

    # The same plan again resumes the group.
    set_status(study_name, "failed")
    assert create_group(plan).status == "running"
    # Another plan under the same name is refused, naming what differs.
    other = plan_comparison(spec, ["grid", "random"], 30, 3, group=study_name)
    with pytest.raises(StoreStateError) as info:
        create_group(other)
    assert f"comparison group {study_name!r} already exists with another n_trials" in str(
        info.value
    )
    assert "fix: pass another --group name" in str(info.value)


def test_missing_group_and_missing_report(pg_url: str, study_name: str) -> None:
    with pytest.raises(StoreStateError, match="no comparison group named"):
        load_group(study_name)
    with pytest.raises(StoreStateError, match="no comparison group named"):
        load_report(study_name)
    plan = plan_comparison(load_spec("branin"), ["random"], 5, 1, group=study_name)
    create_group(plan)
    with pytest.raises(StoreStateError, match="has no report yet"):
        load_report(study_name)
