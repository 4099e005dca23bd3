"""Prometheus metrics of the study store (``hpo metrics serve``).

A package beside :mod:`hpo.query`, :mod:`hpo.compare` and :mod:`hpo.promotions` in the import
layers: it reads the store through :mod:`hpo.query` and is used by :mod:`hpo.cli` only.
"""

from hpo.metrics.exporter import StoreCollector

__all__ = ["StoreCollector"]
