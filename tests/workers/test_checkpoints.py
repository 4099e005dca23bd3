"""Checkpoints on a real PostgreSQL and a real worker process: a torch trial whose worker is
SIGKILLed mid-training is retried from its last checkpoint (the retry records the epoch it
resumed at) and ends with the value of an uninterrupted run; a checkpoint that cannot be
unpickled is logged and the trial starts fresh."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import time
from pathlib import Path

import optuna
import pytest

from hpo.search_spaces.loader import parse_spec
from hpo.settings import get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.artifacts import RESTORED_ATTR
from hpo.workers.objectives.base import EvaluationSetup, TrialContext
from hpo.workers.trial_runner import WorkerIdentity, run_worker

pytest.importorskip("torch")

EPOCHS = 60
FIXED = {"epochs": EPOCHS, "hidden_units": 32, "batch_size": 16, "dropout": 0.1}


def _plan(study_name: str) -> StudyPlan:
    spec = parse_spec(
        {
            "name": "ckpt",
            "objective": "torch_mlp",
            "dataset": "breast_cancer",
            "metric": "accuracy",
            "cv_folds": 2,
            "budget": {"max_failed_trials": 5},
            "params": {k: {"type": "categorical", "choices": [v]} for k, v in FIXED.items()},
        }
    )
    return StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=1, seed=0)


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("HPO_ARTIFACTS_STORE", str(store))
    monkeypatch.setenv("HPO_WORKER_DEVICE", "cpu")
    monkeypatch.setenv("HPO_WORKER_THREADS", "1")
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


def _doomed_worker(plan_json: str) -> None:
    """A trial worker in its own process, as `hpo worker` runs one (killed by the test)."""
    run_worker(StudyPlan.model_validate_json(plan_json), WorkerIdentity(name="doomed"))


def _step(path: Path) -> int:
    return int(pickle.loads(path.read_bytes())["step"])


def _uninterrupted_value() -> float:
    from hpo.workers.objectives.torch_mlp import torch_mlp_objective

    setup = EvaluationSetup(dataset="breast_cancer", metric="accuracy", cv_folds=2, seed=0)
    return torch_mlp_objective(FIXED, TrialContext(trial_number=-1, device="cpu", setup=setup))


def test_a_killed_torch_trial_resumes_at_its_checkpoint_with_the_same_value(
    pg_url: str, study_name: str, store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plan = _plan(study_name)
    study = open_study(plan, get_storage())
    proc = multiprocessing.get_context("spawn").Process(
        target=_doomed_worker, args=(plan.model_dump_json(),)
    )
    proc.start()
    checkpoint = store_dir / f"checkpoint-{study._study_id}-0.pkl"
    deadline = time.monotonic() + 60
    while not (checkpoint.exists() and _step(checkpoint) >= 3):
        assert time.monotonic() < deadline and proc.is_alive(), "no checkpoint within 60 s"
        time.sleep(0.02)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)  # mid-training: no clean shutdown
    proc.join(timeout=30)
    saved_step = _step(checkpoint)
    assert 3 <= saved_step < 2 * EPOCHS  # stopped mid-training, after a few epochs

    with caplog.at_level(logging.INFO, logger="hpo"):
        report = run_worker(plan, WorkerIdentity(name="survivor"))

    trials = optuna.load_study(study_name=study_name, storage=get_storage()).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    retry = trials[1]
    assert retry.system_attrs["failed_trial"] == 0
    assert retry.user_attrs[RESTORED_ATTR] == {"from_trial": 0, "step": saved_step}
    fold, epoch = divmod(saved_step, EPOCHS)
    assert f"torch_mlp trial 1 resumes fold {fold} at epoch {epoch} of {EPOCHS}" in caplog.text
    assert report.counts.complete == 1
    assert retry.value == _uninterrupted_value()  # bit for bit: deterministic torch on CPU
    assert not checkpoint.exists()  # the lineage finished: its checkpoint went


def test_an_unreadable_checkpoint_is_logged_and_the_trial_starts_fresh(
    pg_url: str, study_name: str, store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plan = _plan(study_name)
    short = {k: {"type": "categorical", "choices": [v]} for k, v in {**FIXED, "epochs": 2}.items()}
    spec = parse_spec({**plan.spec.model_dump(exclude_defaults=True), "params": short})
    plan = plan.model_copy(update={"spec": spec})
    study = open_study(plan, get_storage())
    store_dir.mkdir(parents=True)
    garbage = store_dir / f"checkpoint-{study._study_id}-0.pkl"
    garbage.write_bytes(b"\x80\x05not a pickle")  # e.g. written by another version

    with caplog.at_level(logging.WARNING, logger="hpo"):
        report = run_worker(plan, WorkerIdentity(name="w"))

    (trial,) = optuna.load_study(study_name=study_name, storage=get_storage()).trials
    assert trial.state.name == "COMPLETE" and report.counts.complete == 1  # not a lost trial
    assert trial.user_attrs[RESTORED_ATTR] == {"unreadable": "UnpicklingError"}
    assert f"trial 0: checkpoint {garbage.name} cannot be read (UnpicklingError" in caplog.text
    assert "starting fresh" in caplog.text
