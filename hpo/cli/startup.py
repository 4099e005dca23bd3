"""The CLI process's garbage collector: quiet while modules import, blind to them afterwards.

A command imports Prefect, Optuna, SQLAlchemy and scikit-learn: a few hundred thousand objects
that live until the process ends. Python's cyclic collector walks all of them on every full
collection, during the imports and again while the flow runs; measured on a 5-trial `hpo tune
branin`, that was about 1 s of a 2 s flow run (docs/benchmarks.md, "Command overhead"). So:

* :func:`hold` (first thing in :func:`hpo.cli.main.run`, the ``hpo`` process's entry) switches
  the collector off;
* :func:`settle` (before a command's handler, and again by the commands that run flows once
  their flow module is imported) moves every object alive so far into the permanent generation
  (``gc.freeze``) and switches the collector back on, so later collections see only what the
  command's own work allocates;
* :func:`release` (when the command returns) freezes again, so the interpreter's final
  collection at exit has nothing to walk.

Only a process started as ``hpo`` does this: :func:`settle` and :func:`release` do nothing
unless :func:`hold` ran, so code (and tests) calling :func:`hpo.cli.main.main` in a longer-lived
process keep Python's defaults.

Layer: entry.
"""

from __future__ import annotations

import gc

_held = False


def hold() -> None:
    """No cyclic collection while the command's modules import."""
    global _held
    _held = True
    gc.disable()


def settle() -> None:
    """Everything imported so far is permanent: collections from here on skip it."""
    if _held:
        gc.freeze()
        gc.enable()


def release() -> None:
    """The command is done: nothing left for the collector at interpreter exit."""
    if _held:
        gc.freeze()
