"""fit's pieces called by hand: TrainState checkpoints, train_one_epoch, validate."""
import copy
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn as nn

from fullconv.training import (InMemory, TrainConfig, TrainState, cross_entropy, evaluate, fit, load_checkpoint,
                               save_checkpoint, seed_everything, train_one_epoch, validate)
from fullconv.training.loop import make_optimizer
from test_loop import _blobs, _history

# Momentum, weight decay, a cosine schedule after warmup, dropout and BatchNorm: every piece of state matters.
CFG = TrainConfig(epochs=4, batch_size=16, lr=0.1, momentum=0.9, weight_decay=1e-3, schedule="cosine",
                  warmup_epochs=1, keep_best="last")


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def _state(model: nn.Module) -> TrainState:
    return TrainState.start(model, make_optimizer(model.parameters(), CFG), CFG)


def _epoch(state: TrainState, train, val, epoch: int, seed: int = 5) -> dict:
    """One epoch as fit runs it: lr, train_one_epoch, validate, end_epoch."""
    lr = state.set_lr(epoch)
    record = {"epoch": epoch + 1, "lr": lr, **train_one_epoch(state.model, train, state.optimizer, CFG, epoch=epoch,
                                                              seed=seed, device="cpu", progress=False)}
    record.update(validate(state.model, val, CFG, device="cpu"))
    state.end_epoch(record, CFG, validated=True)
    return record


def _equal(a, b) -> bool:
    """Exact equality of nested checkpoint values: tensors bit for bit, NumPy arrays element-wise."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def test_train_one_epoch_by_hand_matches_fit_bit_for_bit(tmp_path):
    train, val = _blobs(96, 0), _blobs(48, 1)
    fitted = fit(_net(0), train, val, CFG, run_dir=tmp_path, device="cpu", seed=5, progress=False)

    state = _state(_net(0))
    seed_everything(5)   # what fit does on a fresh start: the dropout masks come from the global RNG
    records = [_epoch(state, train, val, epoch) for epoch in range(CFG.epochs)]
    assert records == _history(fitted)
    for key, value in fitted.model.state_dict().items():
        assert torch.equal(state.model.state_dict()[key], value), key

    # Negative control: another batch-order seed trains other weights.
    other = _state(_net(0))
    seed_everything(5)
    train_one_epoch(other.model, train, other.optimizer, CFG, epoch=0, seed=6, device="cpu", progress=False)
    assert not torch.equal(other.model[0].weight, state.model[0].weight)


def test_train_state_round_trip_is_bit_exact(tmp_path):
    train, val = _blobs(96, 0), _blobs(48, 1)
    state = _state(_net(0))
    seed_everything(5)
    for epoch in range(2):
        _epoch(state, train, val, epoch)
    saved = copy.deepcopy(state.state_dict())
    save_checkpoint(tmp_path / "checkpoint.pt", state.state_dict())
    assert saved["optimizer"]["state"], "the momentum buffers are part of the checkpoint"
    expected = _epoch(state, train, val, 2)   # the original run goes on (dropout draws from the global RNG)

    fresh = _state(_net(1))   # other weights, and torch.manual_seed(1) moved the global RNG
    assert not _equal(fresh.state_dict(), saved)   # the comparison can tell two states apart
    fresh.load_state_dict(load_checkpoint(tmp_path / "checkpoint.pt"))
    assert _equal(fresh.state_dict(), saved)
    assert fresh.epoch == 2 and fresh.history == saved["history"]

    # Loading restored the RNGs too: epoch 3 of the loaded state is that of the original, bit for bit.
    assert _epoch(fresh, train, val, 2) == expected
    for key, value in state.model.state_dict().items():
        assert torch.equal(fresh.model.state_dict()[key], value), key
    assert _equal(fresh.best_state, state.best_state) and fresh.trackers == state.trackers


def test_load_state_dict_leaves_the_given_checkpoint_alone():
    train, val = _blobs(64, 0), _blobs(32, 1)
    state = _state(_net(0))
    seed_everything(0)
    _epoch(state, train, val, 0)
    checkpoint = copy.deepcopy(state.state_dict())
    kept = copy.deepcopy(checkpoint)
    resumed = _state(_net(1))
    resumed.load_state_dict(checkpoint)
    _epoch(resumed, train, val, 1)   # keep_best="last": best_state is rewritten in place
    assert not _equal(resumed.best_state, kept["best_state"])
    assert _equal(checkpoint, kept)


def test_checkpoint_keys_stay_those_of_earlier_versions(tmp_path):
    """A checkpoint written before TrainState existed resumes: the on-disk keys are pinned."""
    fit(_net(0), _blobs(32, 0), None, TrainConfig(epochs=1, batch_size=16), run_dir=tmp_path, device="cpu",
        seed=0, progress=False)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    assert set(checkpoint) == {"model", "optimizer", "schedule", "scaler", "best_state", "trackers", "history",
                               "done", "rng"}
    assert checkpoint["trackers"] == [{"best": checkpoint["history"][0]["train_loss"], "best_epoch": 1,
                                       "bad_epochs": 0, "stopped": False}]
    assert checkpoint["done"] is True and checkpoint["scaler"] is None


def test_validate_gives_the_metrics_of_evaluate():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    val = InMemory(x, torch.tensor([0, 1, 1, 1, 1]))  # the 3rd and 5th are wrong
    cfg = TrainConfig(epochs=1, batch_size=2)
    plain = evaluate(model, val, device="cpu", batch_size=2)
    assert validate(model, val, cfg, device="cpu") == {"val_loss": plain["loss"], "val_acc": 60.0}
    # The default loss is the training loss: label smoothing included, as fit validates.
    smooth = TrainConfig(epochs=1, batch_size=2, label_smoothing=0.2)
    smoothed = evaluate(model, val, device="cpu", batch_size=2, loss_fn=partial(cross_entropy, label_smoothing=0.2))
    assert validate(model, val, smooth, device="cpu")["val_loss"] == smoothed["loss"]
    assert smoothed["loss"] != pytest.approx(plain["loss"], rel=1e-3)
    assert validate(model, None, cfg, device="cpu", eval_fn=lambda m: {"loss": 1.5, "acc": None}) == {
        "val_loss": 1.5, "val_acc": None}
    assert validate(model, None, cfg, device="cpu") == {}


class StackedLinear(nn.Module):
    """M linear maps stacked on axis 0: x (M, B, D) -> (M, B, K)."""

    def __init__(self, members: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(members, 3, 6))

    def forward(self, x):
        return torch.einsum("mbd,mkd->mbk", x, self.weight)


def test_inactive_members_get_no_update():
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.5)   # plain SGD: a zero gradient leaves a weight as it is
    model = StackedLinear(3)
    before = model.weight.detach().clone()
    metrics = train_one_epoch(model, _blobs(48, 0), make_optimizer(model.parameters(), cfg), cfg, epoch=0,
                              seed=[0, 1, 2], device="cpu", members=3, active=[0, 2], progress=False)
    assert torch.equal(model.weight[1], before[1])
    assert not torch.equal(model.weight[0], before[0]) and not torch.equal(model.weight[2], before[2])
    assert len(metrics["train_loss"]) == 3 and len(metrics["train_acc"]) == 3
