"""One error hierarchy for the service.

Every error says what rule was broken, with which values, where (file, field) and how to fix it.
Errors are classified by what the caller should do: :class:`RetryableError` may succeed if tried
again (a database that is restarting), everything else will fail the same way until the input
changes. Each class also inherits the builtin it corresponds to, so ``except ValueError`` keeps
working for callers that do not know this module.

The CLI turns any :class:`HpoError` into a short message on stderr and exit code 2, with no
traceback.
"""

from __future__ import annotations


class HpoError(Exception):
    """Base class of every error this service raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, *, fix: str | None = None, where: str | None = None) -> None:
        self.rule = message
        self.fix = fix
        self.where = where
        super().__init__(self._render())

    def __str__(self) -> str:  # always the full text, whatever builtin is mixed in
        return self._render()

    def _render(self) -> str:
        text = f"{self.where}: {self.rule}" if self.where else self.rule
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class RetryableError(HpoError):
    """The same call may succeed later (transient infrastructure trouble)."""

    retryable = True


class ConfigError(HpoError, ValueError):
    """Settings or command-line values break a rule."""


class SpecError(HpoError, ValueError):
    """A search-space spec file breaks its schema."""


class UnknownNameError(HpoError, KeyError):
    """A name (objective, dataset, metric, sampler, pruner) is not registered."""


class ObjectiveImportError(HpoError, ImportError):
    """A user objective given as ``package.module:function`` cannot be imported."""


class StoreUnavailableError(RetryableError, ConnectionError):
    """The study store (PostgreSQL) cannot be reached. The URL in the message is masked."""


class StoreStateError(HpoError, RuntimeError):
    """The study store holds something that contradicts the request (e.g. a study with
    another direction under the same name)."""


class DeviceError(HpoError, RuntimeError):
    """A worker was asked for a device it does not have."""


class ArtifactTooLargeError(HpoError, ValueError):
    """An artifact is over the configured size limit (``HPO_ARTIFACTS_MAX_MB``)."""


class TrackingUnavailableError(RetryableError, ConnectionError):
    """The MLflow tracking server cannot be reached or refused a call (the URI in the message
    is masked). What it was asked to record is marked pending in PostgreSQL and synced later."""


class TrackingError(HpoError, RuntimeError):
    """MLflow answered and refused a call (an invalid name, a missing object): trying again
    fails the same way until the input changes. The URI in the message is masked."""
