from __future__ import annotations

import numpy as np
import pytest

from hpo.errors import UnknownNameError
from hpo.workers.datasets import Dataset, dataset_names, dataset_task, load_dataset

EXPECTED = {
    "breast_cancer": ("binary", 2),
    "wine": ("multiclass", 3),
    "digits": ("multiclass", 10),
    "iris": ("multiclass", 3),
    "diabetes": ("regression", None),
    "synthetic_classification": ("binary", 2),
    "synthetic_regression": ("regression", None),
}


def test_names_are_the_bundled_and_generated_ones() -> None:
    assert dataset_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_dataset_shapes_types_and_task(name: str) -> None:
    ds = load_dataset(name)
    task, n_classes = EXPECTED[name]
    assert isinstance(ds, Dataset)
    assert ds.name == name
    assert ds.task == task == dataset_task(name)
    assert ds.n_classes == n_classes
    assert ds.X.dtype == np.float32
    assert ds.X.ndim == 2 and ds.y.ndim == 1
    assert ds.X.shape[0] == ds.y.shape[0] == ds.n_samples > 100
    assert np.isfinite(ds.X).all()
    if n_classes is None:
        assert ds.y.dtype == np.float64
        assert not ds.is_classification
    else:
        assert ds.y.dtype == np.int64
        assert sorted(np.unique(ds.y)) == list(range(n_classes))
        assert ds.is_classification


def test_load_dataset_is_cached_and_read_only() -> None:
    first = load_dataset("wine")
    assert load_dataset("wine") is first
    with pytest.raises(ValueError):
        first.X[0, 0] = 1.0
    with pytest.raises(ValueError):
        first.y[0] = 1


def test_generated_datasets_are_fixed() -> None:
    ds = load_dataset("synthetic_classification")
    load_dataset.cache_clear()
    again = load_dataset("synthetic_classification")
    assert again is not ds
    np.testing.assert_array_equal(again.X, ds.X)
    np.testing.assert_array_equal(again.y, ds.y)


def test_unknown_dataset_lists_the_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "unknown dataset 'mnist'" in message
    for name in EXPECTED:
        assert name in message
    assert info.value.fix is not None and info.value.fix.startswith("use one of:")
    with pytest.raises(KeyError):  # callers that only know the builtin still catch it
        dataset_task("mnist")
