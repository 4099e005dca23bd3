"""The command a process work pool runs for each flow run: ``python -m hpo.flows.engine``.

Left to choose the command itself, Prefect 3.8's process worker starts two Python processes per
flow run: a workspace supervisor (``prefect.runner._workspace_supervisor``: imports Prefect,
reads the flow run, prepares a working directory, looks for a ``uv`` project) and then
``python -m prefect.engine``. Our deployments name installed modules and pull nothing, so the
supervisor has nothing to prepare; the pools' job templates (``infra/pools/*.json``) set this
command instead, and each flow run is one process: the engine itself.

Its imports run with the cyclic garbage collector off and are then frozen, as the ``hpo``
command does (``hpo/cli/startup.py``): Prefect, Optuna and SQLAlchemy are a few hundred thousand
objects that live as long as the process, and collecting while they import costs about a third
of a trial worker's start-up (measured: 2.3 s -> 1.5 s of CPU, docs/fanout-benchmark.md). The
collector is back on before the flow runs, so trials collect their garbage as usual.

``python`` is the worker's own interpreter: ``hpo worker start`` puts its directory first on the
worker's ``PATH``, which flow runs inherit.
"""

from __future__ import annotations

import gc
import runpy
import sys
import warnings


def preload() -> None:
    """Import what a flow run of the pools needs, with the collector off; then freeze it all."""
    gc.disable()
    try:
        import prefect.engine  # noqa: F401
        import prefect.flow_engine  # noqa: F401

        import hpo.flows.trial_worker  # noqa: F401  (the flow most runs of the pools start)
    finally:
        gc.freeze()
        gc.enable()


def main() -> None:
    """``python -m hpo.flows.engine [FLOW_RUN_ID]``: what ``python -m prefect.engine`` does."""
    preload()
    sys.argv[0] = "prefect.engine"
    # The module is imported already (preloaded); running it again as __main__ is what we want.
    warnings.filterwarnings(
        "ignore", message="'prefect.engine' found in sys.modules", category=RuntimeWarning
    )
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
