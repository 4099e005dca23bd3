"""Built-in objective ``torch_mlp``: a PyTorch multi-layer perceptron scored by k-fold CV.

PyTorch is optional (``pip install -e ".[torch]"``) and imported only when the objective runs.
Features are standardised with statistics of the training fold only; regression targets too
(predictions are mapped back before scoring). Each fold seeds torch with ``setup.seed + fold``.
On the first fold the validation score is reported once per epoch through ``context.report``,
so a pruner can stop the trial early. ``optimizer: sgd`` is SGD with momentum 0.9.

Every epoch is checkpointed (``context.checkpoint``: model, optimizer and random states, the
outputs of the folds done): a retry of a trial whose worker died resumes where it stopped and
ends with the same value. :func:`train_mlp` also fits ``train-best``'s final model
(:class:`MlpModel`, saved as ``model.pt``, read back with :func:`load_mlp`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from hpo.errors import ConfigError
from hpo.workers.cv import cross_validate, merge_params, pruning_score, resolve_setup
from hpo.workers.objectives.base import Params, TrialContext
from hpo.workers.objectives.costs import CostMeter

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "hidden_units": 64,
    "n_layers": 2,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "epochs": 20,
    "activation": "relu",
    "optimizer": "adam",
}
ACTIVATIONS = ("relu", "tanh", "gelu")
OPTIMIZERS = ("adam", "sgd")


def _check(merged: dict[str, Any]) -> None:
    def bad(name: str, rule: str, fix: str) -> ConfigError:
        return ConfigError(
            f"torch_mlp param {name!r} must be {rule}, but got {merged[name]!r}", fix=fix
        )

    if merged["activation"] not in ACTIVATIONS:
        raise bad("activation", f"one of {', '.join(ACTIVATIONS)}", "use relu, tanh or gelu")
    if merged["optimizer"] not in OPTIMIZERS:
        raise bad("optimizer", f"one of {', '.join(OPTIMIZERS)}", "use adam or sgd")
    for name in ("hidden_units", "n_layers", "batch_size", "epochs"):
        if int(merged[name]) < 1:
            raise bad(name, "an integer >= 1", f"set {name} to 1 or more")
    if not 0.0 <= float(merged["dropout"]) < 1.0:
        raise bad("dropout", "in [0, 1)", "set dropout to e.g. 0.1")
    if float(merged["learning_rate"]) <= 0.0:
        raise bad("learning_rate", "> 0", "set learning_rate to e.g. 1e-3")
    if float(merged["weight_decay"]) < 0.0:
        raise bad("weight_decay", ">= 0", "set weight_decay to 0 or more")


def _build_model(merged: dict[str, Any], n_in: int, n_out: int) -> torch.nn.Sequential:
    from torch import nn

    activation: dict[str, Callable[[], nn.Module]] = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
    }
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(int(merged["n_layers"])):
        layers += [
            nn.Linear(width, int(merged["hidden_units"])),
            activation[merged["activation"]](),
        ]
        if float(merged["dropout"]) > 0.0:
            layers.append(nn.Dropout(float(merged["dropout"])))
        width = int(merged["hidden_units"])
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _optimizer(merged: dict[str, Any], model: torch.nn.Module) -> torch.optim.Optimizer:
    import torch

    lr, wd = float(merged["learning_rate"]), float(merged["weight_decay"])
    if merged["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)


@dataclass
class MlpModel:
    """A fitted MLP with what predicting needs: the feature scaling of its training rows and,
    for regression, the target scaling. Saved as one ``torch.save`` file (:meth:`save`)."""

    network: torch.nn.Sequential
    params: dict[str, Any]
    task: str
    scaler_mean: NDArray[np.float64]
    scaler_scale: NDArray[np.float64]
    n_out: int
    y_mean: float = 0.0
    y_std: float = 1.0

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def predict(self, X: NDArray[Any]) -> NDArray[np.float64]:
        """Class probabilities ``(n, n_classes)`` for classification, values ``(n,)`` for
        regression (the raw output :func:`hpo.workers.cv.score_output` scores)."""
        import torch

        device = next(self.network.parameters()).device
        scaled = (np.asarray(X, dtype=np.float64) - self.scaler_mean) / self.scaler_scale
        x = torch.from_numpy(scaled.astype(np.float32)).to(device)
        was_training = self.network.training
        self.network.eval()
        with torch.no_grad():
            out = self.network(x)
            out = torch.softmax(out, dim=1) if self.is_classification else out.squeeze(1)
        self.network.train(was_training)
        result = out.cpu().numpy().astype(np.float64)
        return result if self.is_classification else result * self.y_std + self.y_mean

    def as_module(self) -> torch.nn.Module:
        """One servable ``torch.nn.Module`` (float32 rows in, what :meth:`predict` returns
        out): the feature scaling, the network and the softmax (or the target unscaling) in one
        graph, on the CPU. What MLflow's pytorch flavour logs (:mod:`hpo.tracking.models`)."""

        return _Servable(self).eval()

    def to_bytes(self) -> bytes:
        import torch

        buffer = io.BytesIO()
        torch.save(
            {
                "format": MODEL_FORMAT,
                "params": self.params,
                "task": self.task,
                "n_in": int(self.scaler_mean.shape[0]),
                "n_out": self.n_out,
                "scaler_mean": self.scaler_mean,
                "scaler_scale": self.scaler_scale,
                "y_mean": self.y_mean,
                "y_std": self.y_std,
                "state_dict": {k: v.cpu() for k, v in self.network.state_dict().items()},
            },
            buffer,
        )
        return buffer.getvalue()

    def save(self, path: Path) -> Path:
        path.write_bytes(self.to_bytes())
        return path


MODEL_FORMAT = "hpo-torch-mlp/1"


def _Servable(model: MlpModel) -> torch.nn.Module:  # noqa: N802 (a class made on first use)
    """:meth:`MlpModel.as_module`'s module (torch is imported only when one is asked for)."""
    import torch

    class Servable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = model.network.cpu()
            f32 = torch.float32
            self.register_buffer("mean", torch.tensor(model.scaler_mean, dtype=f32))
            self.register_buffer("scale", torch.tensor(model.scaler_scale, dtype=f32))
            self.classify = model.is_classification
            self.y_mean, self.y_std = float(model.y_mean), float(model.y_std)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean, scale = self.get_buffer("mean"), self.get_buffer("scale")
            out: torch.Tensor = self.network((x - mean) / scale)
            if self.classify:
                return torch.softmax(out, dim=1)
            return out.squeeze(1) * self.y_std + self.y_mean

    return Servable()


def load_mlp(path: Path | bytes, device: str = "cpu") -> MlpModel:
    """A model saved by :meth:`MlpModel.save` (or its bytes), on ``device``."""
    import torch

    source = io.BytesIO(path) if isinstance(path, bytes) else io.BytesIO(Path(path).read_bytes())
    saved = torch.load(source, map_location=device, weights_only=False)
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise ConfigError(
            f"{path if not isinstance(path, bytes) else 'the bytes'} is not a torch_mlp model "
            f"file ({MODEL_FORMAT})",
            fix="give the model.pt that train-best or a torch_mlp trial saved",
        )
    network = _build_model(saved["params"], saved["n_in"], saved["n_out"])
    network.load_state_dict(saved["state_dict"])
    network.to(torch.device(device))
    return MlpModel(
        network=network,
        params=saved["params"],
        task=saved["task"],
        scaler_mean=saved["scaler_mean"],
        scaler_scale=saved["scaler_scale"],
        n_out=saved["n_out"],
        y_mean=saved["y_mean"],
        y_std=saved["y_std"],
    )


def train_mlp(
    merged: dict[str, Any],
    X_train: NDArray[Any],
    y_train: NDArray[Any],
    task: str,
    n_classes: int | None,
    *,
    device: str,
    seed: int,
    on_epoch: Callable[[int, MlpModel], None] | None = None,
    resume: dict[str, Any] | None = None,
    checkpoint: Callable[[int, dict[str, Any]], None] | None = None,
) -> MlpModel:
    """Train an MLP with ``merged`` params on standardised ``X_train`` (statistics of these
    rows only). Deterministic for a seed on CPU. ``checkpoint(epoch, state)`` gets the model,
    optimizer and random states after every epoch; ``resume`` (such a state) continues from
    there, exactly as if training had not stopped."""
    import torch
    from sklearn.preprocessing import StandardScaler

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    torch_device = torch.device(device)

    scaler = StandardScaler().fit(X_train)
    xt = torch.from_numpy(np.asarray(scaler.transform(X_train), dtype=np.float32)).to(torch_device)
    classification = task != "regression"
    y_mean, y_std = 0.0, 1.0
    if classification:
        yt = torch.from_numpy(np.array(y_train, dtype=np.int64)).to(torch_device)  # a writable copy
        loss_fn: torch.nn.Module = torch.nn.CrossEntropyLoss()
        n_out = int(n_classes or 2)
    else:
        y_mean, y_std = float(np.mean(y_train)), float(np.std(y_train)) or 1.0
        scaled = (np.asarray(y_train, dtype=np.float64) - y_mean) / y_std
        yt = torch.from_numpy(scaled.astype(np.float32)).to(torch_device)
        loss_fn = torch.nn.MSELoss()
        n_out = 1

    network = _build_model(merged, xt.shape[1], n_out).to(torch_device)
    optimizer = _optimizer(merged, network)
    model = MlpModel(
        network=network,
        params=dict(merged),
        task=task,
        scaler_mean=np.asarray(scaler.mean_, dtype=np.float64),
        scaler_scale=np.asarray(scaler.scale_, dtype=np.float64),
        n_out=n_out,
        y_mean=y_mean,
        y_std=y_std,
    )
    first_epoch = 0
    if resume is not None:
        network.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        torch.set_rng_state(resume["torch_rng"])
        generator.set_state(resume["generator"])
        first_epoch = int(resume["epoch"])

    batch_size, n = int(merged["batch_size"]), xt.shape[0]
    network.train()
    for epoch in range(first_epoch, int(merged["epochs"])):
        order = torch.randperm(n, generator=generator).to(torch_device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            out = network(xt[idx])
            loss = loss_fn(out if classification else out.squeeze(1), yt[idx])
            loss.backward()
            optimizer.step()
        if checkpoint is not None:
            checkpoint(
                epoch + 1,
                {
                    "epoch": epoch + 1,
                    "model": {k: v.cpu() for k, v in network.state_dict().items()},
                    "optimizer": _to_cpu(optimizer.state_dict()),
                    "torch_rng": torch.get_rng_state(),
                    "generator": generator.get_state(),
                },
            )
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
    return model


def _to_cpu(value: Any) -> Any:
    """A state dict with every tensor on the CPU (a checkpoint loads on any machine)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def torch_mlp_objective(params: Params, context: TrialContext) -> float:
    """Mean cross-validated ``context.setup.metric`` of an MLP with ``params`` over
    :data:`DEFAULTS`."""
    merged = merge_params("torch_mlp", params, DEFAULTS)
    _check(merged)
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            f"the torch_mlp objective needs PyTorch, which cannot be imported "
            f"({type(exc).__name__}: {exc})",
            fix='pip install -e ".[torch]"',
        ) from exc
    dataset, metric = resolve_setup(context.setup)
    score = pruning_score(context.setup, dataset, metric)
    torch.set_num_threads(context.threads)
    epochs = int(merged["epochs"])
    identity = {"params": merged, "seed": context.setup.seed, "folds": context.setup.cv_folds}
    saved = _usable(context.restore(), identity, context.trial_number)
    done: dict[int, NDArray[Any]] = saved["done"] if saved else {}
    meter = CostMeter()  # latency_ms, model_size_kb, fit_time_s: see costs.py

    def fit_predict(
        X_train: NDArray[np.float32],
        y_train: NDArray[Any],
        X_valid: NDArray[np.float32],
        y_valid: NDArray[Any],
        fold: int,
    ) -> NDArray[Any]:
        if fold in done:  # finished before the worker died: its output was checkpointed
            return done[fold]
        resume = saved["fold_state"] if saved and saved["fold"] == fold else None
        if resume is not None:
            logger.info(
                "torch_mlp trial %d resumes fold %d at epoch %d of %d",
                context.trial_number, fold, resume["epoch"], epochs,
            )  # fmt: skip

        def on_epoch(epoch: int, model: MlpModel) -> None:
            context.report(epoch, score(y_valid, model.predict(X_valid)))

        def checkpoint(epoch: int, state: dict[str, Any]) -> None:
            context.checkpoint(
                {**identity, "done": done, "fold": fold, "fold_state": state},
                step=fold * epochs + epoch,
            )

        with meter.fit():
            model = train_mlp(
                merged, X_train, y_train, dataset.task, dataset.n_classes,
                device=context.device, seed=context.setup.seed + fold,
                on_epoch=on_epoch if fold == 0 else None, resume=resume, checkpoint=checkpoint,
            )  # fmt: skip
        with meter.predict(len(X_valid)):
            output = model.predict(X_valid)
        meter.model_bytes(len(model.to_bytes()))
        done[fold] = output
        if fold == 0 and context.keeps_models:
            context.save_model(model.to_bytes(), "model.pt")
        return output

    score_value = cross_validate(context.setup, fit_predict)
    meter.publish(context)
    return score_value


def _usable(restored: Any, identity: dict[str, Any], trial_number: int) -> dict[str, Any] | None:
    """A restored checkpoint of this very training (same params, seed and folds), else None."""
    if restored is None:
        return None
    keys = ("done", "fold", "fold_state", *identity)
    if (
        not isinstance(restored, dict)
        or any(key not in restored for key in keys)
        or any(restored[key] != value for key, value in identity.items())
    ):
        logger.warning(
            "torch_mlp trial %d: the checkpoint is of another training; starting fresh",
            trial_number,
        )
        return None
    return restored
