"""Built-in objective ``torch_mlp``: a PyTorch multi-layer perceptron scored by k-fold CV.

PyTorch is optional (``pip install -e ".[torch]"``) and imported only when the objective runs.
Features are standardised with statistics of the training fold only; regression targets too
(predictions are mapped back before scoring). Each fold seeds torch with ``setup.seed + fold``.
On the first fold the validation score is reported once per epoch through ``context.report``,
so a pruner can stop the trial early. ``optimizer: sgd`` is SGD with momentum 0.9.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from hpo.errors import ConfigError
from hpo.workers.cv import cross_validate, merge_params, pruning_score, resolve_setup
from hpo.workers.datasets import Dataset
from hpo.workers.objectives.base import Params, TrialContext
from hpo.workers.objectives.costs import CostMeter

if TYPE_CHECKING:
    import torch

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


def _fit_predict_fold(
    merged: dict[str, Any],
    dataset: Dataset,
    context: TrialContext,
    on_epoch: Callable[[int, NDArray[Any]], None] | None,
    X_train: NDArray[np.float32],
    y_train: NDArray[Any],
    X_valid: NDArray[np.float32],
    fold: int,
    meter: CostMeter | None = None,
) -> NDArray[Any]:
    import torch
    from sklearn.preprocessing import StandardScaler

    seed = context.setup.seed + fold
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    device = torch.device(context.device)

    scaler = StandardScaler().fit(X_train)
    xt = torch.from_numpy(np.asarray(scaler.transform(X_train), dtype=np.float32)).to(device)
    xv = torch.from_numpy(np.asarray(scaler.transform(X_valid), dtype=np.float32)).to(device)
    classification = dataset.is_classification
    y_mean, y_std = 0.0, 1.0
    if classification:
        yt = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(device)
        loss_fn: torch.nn.Module = torch.nn.CrossEntropyLoss()
        n_out = int(dataset.n_classes or 2)
    else:
        y_mean, y_std = float(np.mean(y_train)), float(np.std(y_train)) or 1.0
        scaled = (np.asarray(y_train, dtype=np.float64) - y_mean) / y_std
        yt = torch.from_numpy(scaled.astype(np.float32)).to(device)
        loss_fn = torch.nn.MSELoss()
        n_out = 1

    model = _build_model(merged, xt.shape[1], n_out).to(device)
    optimizer = _optimizer(merged, model)

    def predict() -> NDArray[Any]:
        model.eval()
        with torch.no_grad():
            out = model(xv)
            out = torch.softmax(out, dim=1) if classification else out.squeeze(1)
        model.train()
        result = out.cpu().numpy().astype(np.float64)
        return result if classification else result * y_std + y_mean

    batch_size, n = int(merged["batch_size"]), xt.shape[0]
    model.train()
    for epoch in range(int(merged["epochs"])):
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            out = model(xt[idx])
            loss = loss_fn(out if classification else out.squeeze(1), yt[idx])
            loss.backward()
            optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, predict())
    if meter is None:
        return predict()
    with meter.predict(len(X_valid)):
        output = predict()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    meter.model_bytes(buffer.tell())
    return output


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
    meter = CostMeter()  # latency_ms, model_size_kb, fit_time_s: see costs.py

    def fit_predict(
        X_train: NDArray[np.float32],
        y_train: NDArray[Any],
        X_valid: NDArray[np.float32],
        y_valid: NDArray[Any],
        fold: int,
    ) -> NDArray[Any]:
        def on_epoch(epoch: int, output: NDArray[Any]) -> None:
            context.report(epoch, score(y_valid, output))

        with meter.fit():  # the final prediction inside is timed apart (latency_ms)
            return _fit_predict_fold(
                merged,
                dataset,
                context,
                on_epoch if fold == 0 else None,
                X_train,
                y_train,
                X_valid,
                fold,
                meter,
            )

    score_value = cross_validate(context.setup, fit_predict)
    meter.publish(context)
    return score_value
