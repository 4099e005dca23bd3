"""Datasets the built-in objectives evaluate on: only what scikit-learn ships, never a download.

Five are read from files bundled with scikit-learn (``sklearn.datasets.load_*``) and two are
generated with a fixed ``random_state``, so every worker sees exactly the same rows without
network access. Features are ``float32``; class labels are ``int64`` in ``0..n_classes-1``;
regression targets are ``float64``. Loaded datasets are cached per process and their arrays are
read-only, because every trial of a worker shares the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from hpo.errors import UnknownNameError

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")

_SYNTHETIC_SEED = 0


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named dataset: features ``X`` (float32, 2-D), targets ``y`` (1-D) and its task.

    ``n_classes`` is the number of classes for classification and ``None`` for regression.
    """

    name: str
    X: NDArray[np.float32]
    y: NDArray[Any]
    task: Task
    n_classes: int | None

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


def _bundled(loader_name: str) -> Callable[[], tuple[Any, Any]]:
    def load() -> tuple[Any, Any]:
        from sklearn import datasets

        X, y = getattr(datasets, loader_name)(return_X_y=True)
        return X, y

    return load


def _synthetic_classification() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=1000,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        n_classes=2,
        flip_y=0.02,
        random_state=_SYNTHETIC_SEED,
    )
    return X, y


def _synthetic_regression() -> tuple[Any, Any]:
    from sklearn.datasets import make_regression

    X, y = make_regression(
        n_samples=1000,
        n_features=20,
        n_informative=10,
        noise=10.0,
        random_state=_SYNTHETIC_SEED,
    )
    return X, y


# name -> (loader, task)
_REGISTRY: dict[str, tuple[Callable[[], tuple[Any, Any]], Task]] = {
    "breast_cancer": (_bundled("load_breast_cancer"), "binary"),
    "wine": (_bundled("load_wine"), "multiclass"),
    "digits": (_bundled("load_digits"), "multiclass"),
    "iris": (_bundled("load_iris"), "multiclass"),
    "diabetes": (_bundled("load_diabetes"), "regression"),
    "synthetic_classification": (_synthetic_classification, "binary"),
    "synthetic_regression": (_synthetic_regression, "regression"),
}


def dataset_names() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(_REGISTRY)


def dataset_task(name: str) -> Task:
    """The task of a registered dataset, without loading it."""
    return _lookup(name)[1]


def _lookup(name: str) -> tuple[Callable[[], tuple[Any, Any]], Task]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown dataset {name!r}; built-in objectives only use datasets bundled with "
            "scikit-learn or generated locally",
            fix=f"use one of: {', '.join(dataset_names())}",
        ) from None


@cache
def load_dataset(name: str) -> Dataset:
    """Load a registered dataset (cached: later calls return the same object).

    Raises :class:`~hpo.errors.UnknownNameError` for a name that is not registered.
    """
    loader, task = _lookup(name)
    raw_X, raw_y = loader()
    X = np.ascontiguousarray(raw_X, dtype=np.float32)
    y: NDArray[Any]
    n_classes: int | None
    if task == "regression":
        y = np.ascontiguousarray(raw_y, dtype=np.float64)
        n_classes = None
    else:
        # Relabel to 0..k-1 whatever the source labels were.
        classes, y = np.unique(np.asarray(raw_y), return_inverse=True)
        y = y.astype(np.int64)
        n_classes = int(classes.size)
    X.setflags(write=False)
    y.setflags(write=False)
    return Dataset(name=name, X=X, y=y, task=task, n_classes=n_classes)
