"""Trial pages, filters, sorts and the best trial, checked against stock Optuna's own answers on
the same studies (the two query plans against each other: test_plans.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC
from typing import Any

import optuna
import pytest
from sqlalchemy import text

from hpo.errors import ConfigError, StoreStateError
from hpo.query import SORT_KEYS, StudyClient, TrialRecord
from hpo.query.testing import GeneratedStudy

FrozenTrial = optuna.trial.FrozenTrial


def assert_same_trial(ours: TrialRecord, theirs: FrozenTrial) -> None:
    assert ours.number == theirs.number
    assert ours.state == theirs.state.name
    if theirs.values is not None and len(theirs.values) > 1:
        assert ours.values == tuple(theirs.values)
    assert ours.value == (theirs.values[0] if theirs.values else None)
    assert ours.params == theirs.params
    assert ours.user_attrs == theirs.user_attrs
    assert ours.fail_reason == theirs.system_attrs.get("fail_reason")
    for mine, stock in (
        (ours.datetime_start, theirs.datetime_start),
        (ours.datetime_complete, theirs.datetime_complete),
    ):  # Optuna shows naive local time; we show aware UTC
        assert mine == (stock.astimezone(UTC) if stock else None)


def expected_order(trials: list[FrozenTrial], sort: str, maximize: bool) -> list[int]:
    """Trial numbers in ``sort`` order, computed in Python from Optuna's trials."""
    if sort.endswith("number"):
        return sorted((t.number for t in trials), reverse=sort.startswith("-"))
    desc = maximize if sort == "best" else sort.startswith("-")
    with_value = [t for t in trials if t.values]
    without = sorted(t.number for t in trials if not t.values)
    ordered = sorted(with_value, key=lambda t: ((-1 if desc else 1) * t.values[0], t.number))
    return [t.number for t in ordered] + without


def all_pages(fetch: Callable[[int], Any], limit: int) -> list[int]:
    numbers: list[int] = []
    offset = 0
    while True:
        page = fetch(offset)
        assert page.offset == offset and page.limit == limit
        numbers += [t.number for t in page.items]
        if not page.has_more:
            assert page.next_offset is None
            return numbers
        assert len(page.items) == limit
        offset = page.next_offset


def test_every_trial_reads_as_optuna_reads_it(
    client: StudyClient, generated: GeneratedStudy, optuna_trials: list[FrozenTrial]
) -> None:
    records = list(client.iter_trials(generated.study_name, page_size=333))
    assert len(records) == len(optuna_trials) == 2_000
    for ours, theirs in zip(records, optuna_trials, strict=True):
        assert_same_trial(ours, theirs)


def test_api_written_edge_cases_read_as_optuna_reads_them(
    client: StudyClient, api_study: str, pg_url: str
) -> None:
    theirs = optuna.load_study(study_name=api_study, storage=pg_url).trials
    ours = list(client.iter_trials(api_study, page_size=5))
    assert [t.state for t in ours].count("WAITING") == 1
    assert {t.value for t in ours} >= {math.inf, -math.inf}
    assert next(t for t in ours if t.state == "PRUNED").value == 0.25  # its last report
    for mine, stock in zip(ours, theirs, strict=True):
        assert_same_trial(mine, stock)


@pytest.mark.parametrize("name_fixture", ["generated", "api_study"])
def test_best_trial_is_optunas(
    client: StudyClient, pg_url: str, request: pytest.FixtureRequest, name_fixture: str
) -> None:
    value = request.getfixturevalue(name_fixture)
    name = value if isinstance(value, str) else value.study_name
    study = optuna.load_study(study_name=name, storage=pg_url)
    best = client.best_trial(name)
    assert best is not None
    assert_same_trial(best, study.best_trial)


def test_best_of_a_study_without_complete_trials_is_none(
    client: StudyClient, pg_url: str, study_name: str
) -> None:
    study = optuna.create_study(study_name=study_name, storage=pg_url)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    assert client.best_trial(study_name) is None
    assert client.trials(study_name, sort="best").items[0].state == "FAIL"


@pytest.mark.parametrize("sort", SORT_KEYS)
@pytest.mark.parametrize("state", [None, "complete", ["pruned", "fail", "running", "waiting"]])
def test_pages_concatenate_to_the_sorted_study(
    client: StudyClient,
    generated: GeneratedStudy,
    optuna_trials: list[FrozenTrial],
    sort: str,
    state: Any,
) -> None:
    states = (
        None
        if state is None
        else {s.upper() for s in ([state] if isinstance(state, str) else state)}
    )
    kept = [t for t in optuna_trials if states is None or t.state.name in states]
    got = all_pages(
        lambda offset: client.trials(
            generated.study_name, state=state, sort=sort, limit=250, offset=offset
        ),
        250,
    )
    assert got == expected_order(kept, sort, maximize=False)


def test_ties_break_by_number_and_pages_never_overlap(client: StudyClient, api_study: str) -> None:
    got = all_pages(lambda offset: client.trials(api_study, sort="best", limit=2, offset=offset), 2)
    assert got[0] == 3  # +inf is the best of a maximized study
    assert got[1:4] == [7, 8, 9]  # the three-way tie at 1.0, by number
    assert len(got) == len(set(got)) == 12


PARAM_FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"max_depth": (3, 6)}, lambda p: 3 <= p["max_depth"] <= 6),
    ({"lr": (None, 1e-3)}, lambda p: p["lr"] <= 1e-3),
    ({"booster": ["gbtree", "dart"]}, lambda p: p["booster"] in ("gbtree", "dart")),
    ({"dart_rate": (0.1, 0.2)}, lambda p: "dart_rate" in p and 0.1 <= p["dart_rate"] <= 0.2),
    (
        {"booster": "gblinear", "subsample": (0.9, None), "n_estimators": (100, 200)},
        lambda p: (
            p["booster"] == "gblinear" and p["subsample"] >= 0.9 and 100 <= p["n_estimators"] <= 200
        ),
    ),
]


@pytest.mark.parametrize(("param_filter", "keep"), PARAM_FILTERS)
@pytest.mark.parametrize("sort", ["best", "-value", "number"])
def test_param_filters_keep_what_python_keeps(
    client: StudyClient,
    generated: GeneratedStudy,
    optuna_trials: list[FrozenTrial],
    param_filter: dict[str, Any],
    keep: Callable[[dict[str, Any]], bool],
    sort: str,
) -> None:
    kept = [t for t in optuna_trials if t.params and keep(t.params)]
    page = client.trials(
        generated.study_name, param_filter=param_filter, sort=sort, limit=50, with_total=True
    )
    assert page.total == len(kept)
    assert [t.number for t in page.items] == expected_order(kept, sort, maximize=False)[:50]


def test_value_range_and_state_combine(
    client: StudyClient, generated: GeneratedStudy, optuna_trials: list[FrozenTrial]
) -> None:
    kept = [
        t
        for t in optuna_trials
        if t.state.name == "COMPLETE" and 0.5 <= t.values[0] <= 1.5  # type: ignore[index]
    ]
    page = client.trials(
        generated.study_name,
        state=optuna.trial.TrialState.COMPLETE,
        value_range=(0.5, 1.5),
        sort="-value",
        limit=10_000,
        with_total=True,
    )
    assert page.total == len(kept) == len(page.items)
    assert [t.number for t in page.items] == expected_order(kept, "-value", maximize=False)


def test_multi_objective_studies(client: StudyClient, multi_study: str) -> None:
    page = client.trials(multi_study, sort="value")
    assert all(t.values is not None and len(t.values) == 2 for t in page.items)
    assert [t.value for t in page.items] == sorted(t.value for t in page.items)  # objective 0
    with pytest.raises(StoreStateError, match="2 objectives"):
        client.best_trial(multi_study)


def test_unknown_study(client: StudyClient) -> None:
    with pytest.raises(StoreStateError, match="no study named 'no-such-study'") as info:
        client.trials("no-such-study")
    assert "hpo studies list" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"param_filter": {"depth": (1, 2)}}, "no param named 'depth'"),
        ({"param_filter": {"max_depth": (6, 3)}}, "`low <= high` must hold, but got low=6.0"),
        ({"param_filter": {"booster": ["xgb"]}}, "'xgb' is not one of the param's choices"),
        ({"param_filter": {"lr": "0.1"}}, "param_filter['lr'] must be (low, high)"),
        ({"state": "done"}, "unknown trial state 'done'"),
        ({"value_range": (2, 1)}, "value_range: `low <= high` must hold"),
        ({"sort": "value desc"}, "unknown sort 'value desc'"),
        ({"limit": 0}, "`1 <= limit <= 10000` must hold, but got limit=0"),
        ({"offset": -1}, "`offset >= 0` must hold"),
    ],
)
def test_bad_filters_say_what_and_how_to_fix(
    client: StudyClient, generated: GeneratedStudy, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        client.trials(generated.study_name, **kwargs)
    assert message in str(info.value)
    assert info.value.fix


def test_unknown_param_lists_the_known_ones(client: StudyClient, generated: GeneratedStudy) -> None:
    with pytest.raises(ConfigError) as info:
        client.trials(generated.study_name, param_filter={"depth": (1, 2)})
    assert info.value.fix == (
        "filter on one of: booster, dart_rate, lr, max_depth, n_estimators, subsample"
    )


def test_queries_run_read_only(client: StudyClient) -> None:
    with pytest.raises(Exception, match="read-only transaction"), client._read() as conn:
        conn.execute(text("INSERT INTO studies (study_name) VALUES ('never')"))
