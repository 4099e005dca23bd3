"""MLflow, optional: studies and trials as MLflow runs, promoted models in its registry
(docs/tracking.md). Off unless ``HPO_MLFLOW_TRACKING_URI`` is set; PostgreSQL stays the source
of truth and remembers what was mirrored (:mod:`hpo.tracking.marks`)."""
