"""The one settings tree of the service (pydantic-settings, environment prefix ``HPO_``).

Each group is a small model with its own prefix (``HPO_DATABASE_URL`` is ``database.url``),
every field is described, and nothing else in the code base reads ``os.environ``.
The database URL is a :class:`~pydantic.SecretStr`: it never shows in ``repr``, logs or errors;
use :func:`hpo.store.engine.mask_url` to show where a store is.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from hpo.errors import ConfigError


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "hpo"


class DatabaseSettings(BaseSettings):
    """Where studies are stored."""

    model_config = SettingsConfigDict(env_prefix="HPO_DATABASE_", extra="ignore")

    url: SecretStr | None = Field(
        default=None,
        description=(
            "SQLAlchemy/libpq URL of the PostgreSQL study store, e.g. "
            "postgresql://user:pass@host:5432/hpo. Unset: an embedded PostgreSQL server is "
            "started on demand under `data_dir`."
        ),
    )
    url_file: Path | None = Field(
        default=None,
        description="A file holding the store's URL, read when HPO_DATABASE_URL is unset. "
        "How containers get the secret: Docker pools bind-mount the worker host's file, "
        "Kubernetes mounts a Secret; the URL is never in a job variable or the environment.",
    )
    pool_size: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Connections one process keeps open to the store (one engine per process). "
        "A trial worker needs 2 (a claim holds its lock connection while Optuna commits the new "
        "trial on another); in-process runs raise it to 2 per worker thread.",
    )
    max_overflow: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Extra connections a process may open under bursts, beyond `pool_size`.",
    )
    pool_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for a free pooled connection before failing.",
    )
    connect_timeout_s: int = Field(
        default=10,
        ge=1,
        description="Seconds to wait for PostgreSQL to accept a new connection.",
    )
    application_name: str = Field(
        default="hpo",
        description="application_name of the store's connections (shows in pg_stat_activity).",
    )
    pgbouncer: bool = Field(
        default=False,
        description="The URL points at PgBouncer in transaction-pooling mode: disable "
        "server-side prepared statements.",
    )
    fast_store: bool = Field(
        default=True,
        description="Use the fast study store (`hpo.storage.FastRDBStorage`): Optuna's tables "
        "and rows, written with one statement per storage call and read through incremental "
        "trial caches (docs/benchmarks.md). False: stock `optuna.storages.RDBStorage`, "
        "slower, for comparison or as a fallback.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Per-user directory for the embedded PostgreSQL data and its lock file.",
    )
    embedded_database: str = Field(
        default="hpo",
        description="Name of the database created inside the embedded server.",
    )

    @field_validator("url_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                empty = not path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read the URL file ({exc.strerror})") from None
            if empty:
                raise ValueError("the URL file is empty")
        return path

    @model_validator(mode="after")
    def _url_from_file(self) -> DatabaseSettings:
        if self.url is None and self.url_file is not None:
            text = self.url_file.read_text(encoding="utf-8").strip()
            object.__setattr__(self, "url", SecretStr(text))
        return self


class WorkerSettings(BaseSettings):
    """How trials run on this machine."""

    model_config = SettingsConfigDict(env_prefix="HPO_WORKER_", extra="ignore")

    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Device for built-in objectives: cpu, cuda, or auto (cuda when usable).",
    )
    allow_cpu_fallback: bool = Field(
        default=False,
        description="When `device` is cuda and no GPU is usable, run on CPU with a warning "
        "instead of failing.",
    )
    heartbeat_interval_s: int = Field(
        default=10,
        ge=1,
        description="Seconds between heartbeats of a running trial.",
    )
    grace_period_s: int = Field(
        default=60,
        ge=2,
        description="A RUNNING trial with no heartbeat for this long is failed and retried.",
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        description="How many times the params of a trial whose worker died are tried again.",
    )
    threads: int = Field(
        default=1,
        ge=1,
        description="CPU threads one trial may use (xgboost/lightgbm/torch).",
    )
    interrupt_grace_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="After a Ctrl-C, seconds running trials get to finish (a trial that reports "
        "is cut at its next report) before they are failed as interrupted.",
    )
    zygote: bool = Field(
        default=True,
        description="`hpo worker start` (process pools) starts a resident pre-imported fork "
        "server beside the worker; each flow run is a fork of it (hpo.flows.zygote).",
    )
    poll_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between a Prefect worker's polls for flow runs to start: `hpo "
        "worker start` sets PREFECT_WORKER_QUERY_SECONDS to it (Prefect's own default is 10 s, "
        "the wait of a trial worker for its pick-up), unless that is set in the environment.",
    )
    gpu_slot: str | None = Field(
        default=None,
        description="Prefect global concurrency limit a trial-worker flow run occupies while it "
        "runs (one per GPU; set by `hpo worker start --pool gpu --gpu I`).",
    )


class ServerSettings(BaseSettings):
    """The local Prefect server and UI (`hpo server start`) the commands reuse."""

    model_config = SettingsConfigDict(env_prefix="HPO_SERVER_", extra="ignore")

    autostart: bool = Field(
        default=True,
        description="`hpo tune`, `hpo compare` and `hpo promote` start the local Prefect server "
        "(and UI) when none runs and PREFECT_API_URL is not set; false: they use Prefect's "
        "ephemeral server, whose runs are gone when the command ends.",
    )
    host: str = Field(default="127.0.0.1", description="Address the local server listens on.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the local server (default: 4200 when free, else any free port).",
    )
    dir: Path | None = Field(
        default=None,
        description="State file, log and PREFECT_HOME (its SQLite database) of the local "
        "server (default: `database.data_dir`/prefect-server).",
    )
    startup_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Seconds the local server gets to answer (its first start migrates its "
        "database).",
    )


class MonitoringSettings(BaseSettings):
    """Plots in the Prefect UI and the Prometheus exporter."""

    model_config = SettingsConfigDict(env_prefix="HPO_MONITORING_", extra="ignore")

    plot_interval_s: float = Field(
        default=15.0,
        ge=0,
        description="A tune run redraws its plot artifacts at most this often (and once at the "
        "end); 0 disables the live refresh.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address `hpo metrics serve` listens on."
    )
    metrics_port: int = Field(
        default=9464, ge=1, le=65535, description="Port of `hpo metrics serve`."
    )
    dashboard_port: int = Field(
        default=8080, ge=1, le=65535, description="Port of `hpo dashboard` (optuna-dashboard)."
    )


class ArtifactSettings(BaseSettings):
    """Optuna's artifact store: files of trials (models, checkpoints, what objectives save)."""

    model_config = SettingsConfigDict(env_prefix="HPO_ARTIFACTS_", extra="ignore")

    store: str | None = Field(
        default=None,
        description="Where trial artifacts go: a directory (or file:// URL), or "
        "s3://bucket/prefix for S3 and S3-compatible stores (boto3's credentials). Default: "
        "`artifacts_dir`/trials.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible store (MinIO, Ceph), e.g. http://minio:9000; "
        "unset: AWS S3 (or boto3's AWS_ENDPOINT_URL).",
    )
    max_mb: float = Field(
        default=100.0,
        gt=0,
        description="Largest artifact one save may store, in MB. Over it, context.save_artifact "
        "raises (uncaught: the trial fails with the reason); the service's own models and "
        "checkpoints are skipped with a warning.",
    )

    @field_validator("store")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in ("", "file", "s3"):
            raise ValueError(
                f"the artifact store must be a directory, a file:// URL or s3://bucket/prefix, "
                f"but the scheme is {scheme!r}"
            )
        if scheme == "s3" and not value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("an s3:// artifact store needs a bucket: s3://bucket/prefix")
        return value


class MlflowSettings(BaseSettings):
    """MLflow tracking and model registry (optional, the ``mlflow`` extra): off while
    ``tracking_uri`` is unset. PostgreSQL stays the source of truth; MLflow mirrors it."""

    model_config = SettingsConfigDict(env_prefix="HPO_MLFLOW_", extra="ignore")

    tracking_uri: SecretStr | None = Field(
        default=None,
        description="MLflow tracking server, e.g. http://mlflow:5000 (a secret: it may hold a "
        "password). Unset: no MLflow. Set: every study is an MLflow run with one nested run "
        "per trial, and train-best registers the promoted model (docs/tracking.md).",
    )
    experiment: str = Field(
        default="hpo",
        min_length=1,
        max_length=200,
        description="MLflow experiment the studies' runs go to.",
    )
    model_prefix: str = Field(
        default="",
        max_length=100,
        pattern=r"^[\w.\-]*$",
        description="Registered model name = this prefix + the pipeline name "
        "(`models:/<prefix><pipeline>@<stage>` loads a stage's champion).",
    )
    request_timeout_s: int = Field(
        default=10,
        ge=1,
        le=600,
        description="Seconds one MLflow request may take (MLFLOW_HTTP_REQUEST_TIMEOUT).",
    )
    max_retries: int = Field(
        default=1,
        ge=0,
        le=10,
        description="Retries of a failed MLflow request (MLFLOW_HTTP_REQUEST_MAX_RETRIES); what "
        "still fails is marked pending in PostgreSQL and synced later.",
    )
    pause_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="After MLflow failed, a worker stops calling it for this long (its trials "
        "are marked pending and logged by the next sync).",
    )

    @field_validator("tracking_uri")
    @classmethod
    def _usable(cls, uri: SecretStr | None) -> SecretStr | None:
        if uri is None or not uri.get_secret_value().strip():
            return None
        text = uri.get_secret_value().strip()
        if not re.match(r"^(databricks(-uc)?$|file:|[A-Za-z][A-Za-z0-9+.\-]*://)", text):
            raise ValueError(
                "not a tracking URI: use the form http://host:5000 (or file:, sqlite:, "
                "postgresql:, databricks)"
            )
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            raise ValueError(
                "MLflow tracking is on, but the mlflow package is not installed: "
                "pip install 'prefect-hpo[mlflow]'"
            )
        return SecretStr(text)


class PrefectEnv(BaseSettings):
    """The Prefect variables the service reads itself: is an API server chosen already?"""

    model_config = SettingsConfigDict(env_prefix="PREFECT_", extra="ignore")

    api_url: str | None = Field(default=None, description="PREFECT_API_URL as the user set it.")
    home: Path = Field(default=Path("~/.prefect"), description="PREFECT_HOME.")
    profiles_path: Path | None = Field(default=None, description="PREFECT_PROFILES_PATH.")
    profile: str | None = Field(default=None, description="PREFECT_PROFILE: the active profile.")

    def chosen_api_url(self) -> str | None:
        """The API the user chose: ``PREFECT_API_URL`` in the environment, else in the active
        Prefect profile (``prefect config set PREFECT_API_URL=...``), else None. Read from the
        profiles file without importing Prefect (this runs before Prefect is imported)."""
        if self.api_url:
            return self.api_url
        path = (self.profiles_path or self.home / "profiles.toml").expanduser()
        try:
            profiles = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None  # no profiles file (Prefect's defaults), or one Prefect will complain of
        active = self.profile or profiles.get("active") or "ephemeral"
        table = profiles.get("profiles", {}).get(active, {})
        url = table.get("PREFECT_API_URL") if isinstance(table, dict) else None
        return url if isinstance(url, str) and url else None


class HpoSettings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(env_prefix="HPO_", extra="ignore")

    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="The PostgreSQL study store."
    )
    worker: WorkerSettings = Field(
        default_factory=WorkerSettings, description="Trial execution on this machine."
    )
    server: ServerSettings = Field(
        default_factory=ServerSettings, description="The local Prefect server and UI."
    )
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings, description="Plots, metrics, dashboards."
    )
    artifacts: ArtifactSettings = Field(
        default_factory=ArtifactSettings, description="Trial artifacts, models, checkpoints."
    )
    mlflow: MlflowSettings = Field(
        default_factory=MlflowSettings, description="MLflow tracking and model registry."
    )
    dashboard_url: str | None = Field(
        default=None,
        description="Base URL of an optuna-dashboard serving the study store; the UI artifacts "
        "link each study to it (e.g. http://127.0.0.1:8080).",
    )
    artifacts_dir: Path | None = Field(
        default=None,
        description="Where reports and trained models are written (default: "
        "`database.data_dir`/artifacts).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the service's own loggers."
    )


def sized_for_threads(settings: HpoSettings, threads: int) -> HpoSettings:
    """The same settings with a pool big enough for ``threads`` workers sharing one engine."""
    db = settings.database
    pool_size = max(db.pool_size, 2 * threads)
    if pool_size == db.pool_size:
        return settings
    return settings.model_copy(update={"database": db.model_copy(update={"pool_size": pool_size})})


def artifacts_dir(settings: HpoSettings) -> Path:
    """Reports and trained models go here."""
    return settings.artifacts_dir or settings.database.data_dir / "artifacts"


def artifact_store_location(settings: HpoSettings) -> str:
    """The artifact store setting, or the default directory under :func:`artifacts_dir`."""
    return settings.artifacts.store or str(artifacts_dir(settings) / "trials")


@lru_cache(maxsize=1)
def get_settings() -> HpoSettings:
    """The process-wide settings, read once from the environment; an invalid value is a
    :class:`~hpo.errors.ConfigError` naming the variable, the rule and the fix."""
    try:
        return HpoSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None
    except SettingsError as exc:  # a whole group given as one variable (HPO_SERVER=...)
        match = re.search(r'field "(\w+)"', str(exc))
        var = f"HPO_{match.group(1).upper()}" if match else "an HPO_* variable"
        raise ConfigError(
            f"invalid setting {var}: a group of settings given as one variable must be a JSON "
            "object",
            fix=f"unset {var} and set its fields one by one ({var}_...)",
        ) from None


#: Each settings group by class name (errors name the group's variables with its prefix).
_GROUPS: dict[str, type[BaseSettings]] = {
    HpoSettings.__name__: HpoSettings,
    **{
        info.annotation.__name__: info.annotation
        for info in HpoSettings.model_fields.values()
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)
    },
}
_SECRET_FIELDS = {"url", "tracking_uri"}  # never echoed back, not even in an error


def settings_error(exc: ValidationError) -> ConfigError:
    """One line per invalid ``HPO_*`` variable: its name, the value (unless secret), the rule."""
    group = _GROUPS.get(exc.title, HpoSettings)
    prefix = str(group.model_config.get("env_prefix", "HPO_"))
    lines: list[str] = []
    fixes: list[str] = []
    for err in exc.errors(include_url=False):
        field = str(err["loc"][0]) if err["loc"] else ""
        var = (prefix + field).upper()
        given = "" if field in _SECRET_FIELDS else f"={err.get('input')!r}"
        lines.append(f"{var}{given}: {err['msg'].removeprefix('Value error, ')}")
        info = group.model_fields.get(field)
        if info is not None:
            default = info.get_default(call_default_factory=True)
            what = (info.description or "").split(". ")[0].rstrip(".")
            fixes.append(f"set {var} to a valid value ({what}) or unset it (default {default})")
    first, *rest = lines or [str(exc)]
    return ConfigError(
        "invalid setting " + first + "".join(f"; {line}" for line in rest),
        fix="; ".join(fixes) or "see the settings table in README.md",
    )


#: Prefect settings the service runs with unless the user set them: no telemetry calls from a
#: machine that may have no internet (they stall the ephemeral server's start-up by ~10 s).
#: And the service's own loggers (``hpo.*``) go to the flow-run logs shown in the Prefect UI.
#: The ephemeral server gets 90 s to start, not 20: its first start on a new ``PREFECT_HOME``
#: runs every database migration, which on a busy 2-core machine was seen to take longer.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "hpo",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def apply_prefect_defaults(api_url: str | None = None) -> None:
    """Set :data:`PREFECT_DEFAULTS` in the environment where the user has not, and
    ``PREFECT_API_URL`` to ``api_url`` (the local server) when given and the user set none;
    call before Prefect is imported. With :func:`apply_mlflow_defaults`, the one place besides
    the settings classes that touches os.environ."""
    import os

    defaults = dict(PREFECT_DEFAULTS)
    if api_url:
        defaults["PREFECT_API_URL"] = api_url
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def apply_mlflow_defaults(settings: MlflowSettings) -> None:
    """Give MLflow's HTTP client the configured timeout and retries (it reads them from the
    environment at every request) unless the user set them, and keep it from printing run URLs
    (which would hold the tracking URI's credentials) to stdout."""
    import os

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.request_timeout_s))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.max_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
