"""Trial artifacts, models and checkpoints in Optuna's artifact store (layer: learning).

The store is Optuna's own (:mod:`optuna.artifacts`): a directory by default
(``HPO_ARTIFACTS_STORE``, default ``artifacts_dir``/trials), or ``s3://bucket/prefix``. What an
objective saves with ``context.save_artifact`` is uploaded with
:func:`optuna.artifacts.upload_artifact`, so optuna-dashboard lists it beside the trial
(``hpo dashboard`` serves the same store). :class:`TrialArtifacts` is what one trial's
``context.files`` is:

* **models** a built-in objective offers (``context.save_model``) are uploaded when the trial
  completes and the spec asks for them; :func:`keep_best_models` then deletes all but the best k
  of the study from the store and from the trials' attributes;
* a **checkpoint** is one object per trial *lineage* (a trial and the retries of it the service
  makes when its worker died: Optuna's ``failed_trial`` system attribute names the first), under
  the key ``checkpoint-<study id>-<first trial number>.pkl``; a retry's ``restore()`` reads it.
  It is removed when the lineage finishes (completes, is pruned or fails in its objective).
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from sqlalchemy import Engine, text

from hpo.errors import ArtifactTooLargeError, ConfigError
from hpo.settings import HpoSettings, artifact_store_location

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore

logger = logging.getLogger(__name__)

#: Trial system attribute holding the artifact id of the trial's stored model.
MODEL_ATTR = "model_artifact"
#: Trial user attribute recording a restored checkpoint: ``{"from_trial": n, "step": s}``.
RESTORED_ATTR = "restored_checkpoint"
#: Trial user attribute listing what the service did not store, and why.
SKIPPED_ATTR = "artifacts_skipped"
_ARTIFACT_PREFIX = "artifacts:"  # optuna.artifacts' system attribute of an artifact's meta


class AtomicFileSystemStore(FileSystemArtifactStore):
    """Optuna's directory store, whose writes are all or nothing (a temporary file renamed
    into place): a worker killed mid-write leaves the previous checkpoint, not half of one."""

    def __init__(self, base_path: str | Path) -> None:
        Path(base_path).mkdir(parents=True, exist_ok=True)
        super().__init__(base_path)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        target = self._get_filepath(artifact_id)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                while chunk := content_body.read(1 << 20):
                    f.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class PrefixedStore:
    """An artifact store whose keys all start with ``prefix`` (``s3://bucket/prefix``)."""

    def __init__(self, inner: ArtifactStore, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._inner.open_reader(self._prefix + artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self._inner.write(self._prefix + artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self._inner.remove(self._prefix + artifact_id)


def open_artifact_store(settings: HpoSettings) -> ArtifactStore:
    """The artifact store ``HPO_ARTIFACTS_STORE`` names (one per process and location)."""
    return _open(artifact_store_location(settings), settings.artifacts.s3_endpoint_url)


@lru_cache(maxsize=8)
def _open(location: str, endpoint_url: str | None) -> ArtifactStore:
    scheme, _, rest = location.partition("://") if "://" in location else ("", "", location)
    scheme = scheme.lower()
    if scheme in ("", "file"):
        return AtomicFileSystemStore(Path(rest).expanduser())
    if scheme == "s3":
        try:
            import boto3
        except ImportError:
            raise ConfigError(
                f"HPO_ARTIFACTS_STORE={location!r} needs boto3, which is not installed",
                fix="pip install boto3, or set HPO_ARTIFACTS_STORE to a directory",
            ) from None
        from optuna.artifacts import Boto3ArtifactStore

        bucket, _, prefix = rest.partition("/")
        client = boto3.client("s3", endpoint_url=endpoint_url)
        return PrefixedStore(Boto3ArtifactStore(bucket, client=client), prefix)
    raise ConfigError(  # the settings refuse these first; a direct caller may not
        f"HPO_ARTIFACTS_STORE={location!r}: unknown artifact store scheme {scheme!r}",
        fix="use a directory, file:///path or s3://bucket/prefix",
    )


class TrialArtifacts:
    """One RUNNING trial's files (``context.files``); see the module doc. Not thread-safe:
    one trial, one thread."""

    def __init__(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        settings: HpoSettings,
        *,
        keep_models: bool = False,
    ) -> None:
        self._study = study
        self._trial = trial
        self._settings = settings
        self._max_bytes = int(settings.artifacts.max_mb * 1_000_000)
        self._keep_models = keep_models
        self._model: tuple[bytes, str] | None = None
        self._checkpoint_id: str | None = None

    @property
    def checkpoint_id(self) -> str:
        """``checkpoint-<study id>-<n>.pkl``, n the first trial of the lineage (read when a
        trial first checkpoints or restores: trials that do neither cost no query)."""
        if self._checkpoint_id is None:
            attrs = self._trial.storage.get_trial_system_attrs(self._trial._trial_id)
            first = attrs.get("failed_trial", self._trial.number)
            self._checkpoint_id = f"checkpoint-{self._study._study_id}-{first}.pkl"
        return self._checkpoint_id

    @property
    def store(self) -> ArtifactStore:
        return open_artifact_store(self._settings)

    def _too_large(self, size: int, name: str) -> str | None:
        if size <= self._max_bytes:
            return None
        return (
            f"artifact {name!r} of trial {self._trial.number} is {size:,} bytes, over the "
            f"limit of {self._settings.artifacts.max_mb:g} MB (HPO_ARTIFACTS_MAX_MB)"
        )

    def save(self, data: str | Path | bytes, name: str) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise ConfigError(
                f"an artifact name must be a file name, but got {name!r}",
                fix="pass a name such as 'model.json'",
            )
        size = len(data) if isinstance(data, bytes) else Path(data).stat().st_size
        problem = self._too_large(size, name)
        if problem is not None:
            raise ArtifactTooLargeError(
                problem, fix="save a smaller file, or raise HPO_ARTIFACTS_MAX_MB"
            )
        if not isinstance(data, bytes) and Path(data).name == name:  # uploaded as it is
            return upload_artifact(
                artifact_store=self.store, file_path=str(data), study_or_trial=self._trial
            )
        with tempfile.TemporaryDirectory(prefix="hpo-artifact-") as tmp:  # gives it ``name``
            path = Path(tmp) / name
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                os.symlink(Path(data).resolve(), path)  # uploaded under ``name``, not copied
            return upload_artifact(
                artifact_store=self.store, file_path=str(path), study_or_trial=self._trial
            )

    @property
    def keeps_models(self) -> bool:
        return self._keep_models

    def offer_model(self, data: bytes, name: str) -> None:
        if self._keep_models:
            self._model = (data, name)

    def _skip(self, what: str) -> None:
        logger.warning("%s: not stored", what)
        skipped = list(self._trial.user_attrs.get(SKIPPED_ATTR, []))
        self._trial.set_user_attr(SKIPPED_ATTR, [*skipped, what][-10:])

    def store_model(self) -> str | None:
        """Upload the offered model (the trial completed, still RUNNING); returns its id."""
        if self._model is None:
            return None
        data, name = self._model
        self._model = None
        problem = self._too_large(len(data), name)
        if problem is not None:
            self._skip(problem)
            return None
        artifact_id = self.save(data, f"trial-{self._trial.number}-{name}")
        self._trial.storage.set_trial_system_attr(self._trial._trial_id, MODEL_ATTR, artifact_id)
        return artifact_id

    def checkpoint(self, state: Any, step: int | None = None) -> None:
        payload = pickle.dumps(
            {"trial": self._trial.number, "step": step, "saved_at": time.time(), "state": state},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        problem = self._too_large(len(payload), "checkpoint")
        if problem is not None:
            self._skip(problem)
            return
        self.store.write(self.checkpoint_id, io.BytesIO(payload))

    def restore(self) -> Any | None:
        try:
            with self.store.open_reader(self.checkpoint_id) as reader:
                raw = reader.read()
        except ArtifactNotFound:
            return None
        try:
            payload = pickle.loads(raw)
            state = payload["state"]
        except Exception as exc:  # any garbage: a fresh start, never a lost trial
            logger.warning(
                "trial %d: checkpoint %s cannot be read (%s: %s); starting fresh",
                self._trial.number, self.checkpoint_id, type(exc).__name__, exc,
            )  # fmt: skip
            self._trial.set_user_attr(RESTORED_ATTR, {"unreadable": f"{type(exc).__name__}"})
            return None
        record = {"from_trial": payload.get("trial"), "step": payload.get("step")}
        logger.info("trial %d resumes from checkpoint %s", self._trial.number, record)
        self._trial.set_user_attr(RESTORED_ATTR, record)
        return state

    def finish(self) -> None:
        """The lineage is over (the trial completed, was pruned or failed in its objective):
        its checkpoint goes, if it used one."""
        if self._checkpoint_id is None:
            return
        try:
            self.store.remove(self.checkpoint_id)
        except ArtifactNotFound:
            pass
        except Exception:  # a store hiccup leaves a stale file, not a failed trial
            logger.warning("cannot remove %s", self.checkpoint_id, exc_info=True)


_RANKED_MODELS = """
    SELECT t.trial_id, a.value_json FROM trials t
    JOIN trial_system_attributes a ON a.trial_id = t.trial_id AND a.key = :key
    JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
    WHERE t.study_id = :sid AND t.state = 'COMPLETE'
    ORDER BY v.value {order}, t.number
    OFFSET :k
"""
_DROP_ATTRS = text(
    "DELETE FROM trial_system_attributes WHERE trial_id = :tid AND key IN (:model, :meta)"
)


def keep_best_models(study: optuna.Study, engine: Engine, k: int, store: ArtifactStore) -> int:
    """Delete the stored models of the study's completed trials but the best ``k`` (from the
    store and from the trials' system attributes); returns how many went. Safe to run from many
    workers at once (a model already gone is skipped)."""
    order = "DESC" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "ASC"
    query = text(_RANKED_MODELS.format(order=order))
    with engine.connect() as conn:
        rows = conn.execute(query, {"key": MODEL_ATTR, "sid": study._study_id, "k": k}).all()
    removed = 0
    for trial_id, value_json in rows:
        artifact_id = str(json.loads(value_json))
        try:
            store.remove(artifact_id)
        except ArtifactNotFound:
            pass
        with engine.begin() as conn:
            conn.execute(
                _DROP_ATTRS,
                {"tid": trial_id, "model": MODEL_ATTR, "meta": _ARTIFACT_PREFIX + artifact_id},
            )
        removed += 1
    return removed


def read_artifact(store: ArtifactStore, artifact_id: str) -> bytes:
    """The bytes of one artifact."""
    reader: IO[bytes]
    with store.open_reader(artifact_id) as reader:
        return reader.read()
