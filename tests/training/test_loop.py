"""fit/evaluate: determinism, stacked members, frozen backbones, early stopping and reduce-on-plateau."""

import pytest
import torch
import torch.nn as nn

from fullconv.training import InMemory, TrainConfig, evaluate, fit, load_checkpoint


def _blobs(n: int, seed: int, d: int = 6, k: int = 3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=torch.Generator().manual_seed(99)) * 1.5
    y = torch.randint(0, k, (n,), generator=g)
    return InMemory(centres[y] + torch.randn(n, d, generator=g), y)


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _history(result):
    return [{k: v for k, v in r.items() if k != "time"} for r in result.history]


def test_same_seed_same_numbers(tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=16, lr=0.1, momentum=0.9)
    results = []
    for run in range(2):
        torch.manual_seed(0)
        results.append(fit(_mlp(), _blobs(96, 0), _blobs(48, 1), cfg, run_dir=tmp_path / str(run), device="cpu",
                           seed=5, progress=False))
    assert _history(results[0]) == _history(results[1])
    for a, b in zip(results[0].model.parameters(), results[1].model.parameters()):
        assert torch.equal(a, b)


def test_log_has_one_line_per_epoch(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.1)
    fit(_mlp(), _blobs(64, 0), _blobs(32, 1), cfg, run_dir=tmp_path, device="cpu", seed=0, progress=False)
    import json
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time"} <= set(lines[0])


def test_evaluate_counts_correct_predictions():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    y = torch.tensor([0, 1, 1, 1, 1])  # the 3rd and 5th are wrong
    metrics = evaluate(model, InMemory(x, y), device="cpu", batch_size=2)
    assert metrics["acc"] == pytest.approx(60.0)
    expected = nn.functional.cross_entropy(model(x), y).item()
    assert metrics["loss"] == pytest.approx(expected, rel=1e-6)


class StackedMLP(nn.Module):
    """M independent MLPs, every parameter with the member axis first: x (M, B, D) -> (M, B, K)."""

    def __init__(self, mlps):
        super().__init__()
        self.w1 = nn.Parameter(torch.stack([m[0].weight.detach() for m in mlps]))
        self.b1 = nn.Parameter(torch.stack([m[0].bias.detach() for m in mlps]))
        self.w2 = nn.Parameter(torch.stack([m[2].weight.detach() for m in mlps]))
        self.b2 = nn.Parameter(torch.stack([m[2].bias.detach() for m in mlps]))

    def forward(self, x):
        h = torch.relu(torch.einsum("mbd,mhd->mbh", x, self.w1) + self.b1[:, None])
        return torch.einsum("mbh,mkh->mbk", h, self.w2) + self.b2[:, None]


def test_stacked_members_match_separate_runs(tmp_path):
    # Noisy validation labels make the members stop early, at different epochs.
    train, val = _blobs(120, 0), _blobs(60, 1)
    val = InMemory(val.x, torch.randint(0, 3, (60,), generator=torch.Generator().manual_seed(7)))
    cfg = TrainConfig(epochs=12, batch_size=25, optimizer="adadelta", lr=1.0, weight_decay=5e-5, early_stopping=2)
    mlps = []
    for m in range(3):
        torch.manual_seed(10 + m)
        mlps.append(_mlp())
    stacked = fit(StackedMLP(mlps), train, val, cfg, run_dir=tmp_path / "stacked", device="cpu", seed=[0, 1, 2],
                  members=3, progress=False)
    assert len(set(stacked.best_epoch)) > 1 and max(stacked.best_epoch) < cfg.epochs
    for m in range(3):
        alone = fit(mlps[m], train, val, cfg, run_dir=tmp_path / str(m), device="cpu", seed=m, progress=False)
        assert stacked.best_epoch[m] == alone.best_epoch
        assert stacked.best[m]["val_loss"] == pytest.approx(alone.best["val_loss"], rel=1e-5)
        assert len(alone.history) == alone.best_epoch + cfg.early_stopping
        params = dict(stacked.model.named_parameters())
        for name, value in zip(("w1", "b1", "w2", "b2"), alone.model.parameters()):
            torch.testing.assert_close(params[name][m], value, rtol=1e-5, atol=1e-6)


def test_frozen_backbone_keeps_its_weights_and_batchnorm_statistics(tmp_path):
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU())
    model = nn.Sequential(backbone, nn.Linear(16, 3))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    head_before = model[1].weight.clone()
    fit(model, _blobs(64, 0), _blobs(32, 1), TrainConfig(epochs=2, batch_size=16, lr=0.1, weight_decay=1e-3),
        run_dir=tmp_path, device="cpu", seed=0, trainable=model[1], progress=False)
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not torch.equal(model[1].weight, head_before)


def _scripted(losses, seen):
    """An eval_fn that reports ``losses`` epoch after epoch and remembers the weights it saw."""
    def eval_fn(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"loss": losses[len(seen) - 1], "acc": None}
    return eval_fn


def test_plateau_drops_lr_reloads_best_and_stops_below_min_lr(tmp_path):
    seen = []
    cfg = TrainConfig(epochs=10, batch_size=16, lr=1.0, schedule="plateau", plateau_patience=2, gamma=0.1,
                      plateau_reload_best=True, min_lr=0.05)
    result = fit(_mlp(), _blobs(64, 0), None, cfg, run_dir=tmp_path, device="cpu", seed=0, progress=False,
                 eval_fn=_scripted([1.0, 2.0, 3.0, 0.5, 4.0, 5.0, 6.0], seen))
    # drop after epochs 3 and 6 (two epochs without improvement each); 0.01 < min_lr stops after epoch 6
    assert [r["lr"] for r in result.history] == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.1])
    assert result.best_epoch == 4
    checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    for key, value in seen[3].items():  # reloaded after epoch 6: the weights of epoch 4
        assert torch.equal(checkpoint["model"][key], value)
        assert torch.equal(result.model.state_dict()[key], value)


def test_early_stopping_keeps_best_val_acc(tmp_path):
    seen = []
    accs = [50.0, 70.0, 60.0, 65.0, 80.0]
    eval_fn = _scripted([1.0] * 5, seen)

    def with_acc(model):
        metrics = eval_fn(model)
        return {**metrics, "acc": accs[len(seen) - 1]}
    cfg = TrainConfig(epochs=5, batch_size=16, lr=0.5, keep_best="val_acc", early_stopping=2)
    result = fit(_mlp(), _blobs(64, 0), None, cfg, run_dir=tmp_path, device="cpu", seed=0, progress=False,
                 eval_fn=with_acc)
    assert len(result.history) == 4 and result.best_epoch == 2
    for key, value in seen[1].items():
        assert torch.equal(result.model.state_dict()[key], value)


def test_bad_config_names_the_choices():
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'; choose one of: sgd"):
        TrainConfig(epochs=1, batch_size=1, optimizer="sgdd")


def test_members_need_member_axis_first(tmp_path):
    with pytest.raises(ValueError, match="member axis first"):
        fit(_mlp(), _blobs(8, 0), None, TrainConfig(epochs=1, batch_size=4), run_dir=tmp_path, device="cpu",
            seed=0, members=3, progress=False)


def test_dataset_and_in_memory_data_train_the_same_weights(tmp_path):
    from torch.utils.data import TensorDataset
    train, val = _blobs(70, 0), _blobs(30, 1)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, momentum=0.9)
    runs = []
    for i, (tr, va) in enumerate([(train, val), (TensorDataset(train.x, train.y), TensorDataset(val.x, val.y))]):
        torch.manual_seed(0)
        runs.append(fit(_mlp(), tr, va, cfg, run_dir=tmp_path / str(i), device="cpu", seed=1, progress=False))
    assert _history(runs[0]) == _history(runs[1])


def test_sgd_dampening_follows_the_momentum_formula():
    """Two SGD steps on a linear loss: buffer b1 = g, b2 = m·b1 + (1 - d)·g (PyTorch's first step is undampened)."""
    from fullconv.training.loop import make_optimizer

    weight = nn.Parameter(torch.zeros(3, dtype=torch.float64))
    grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    lr, momentum, dampening = 0.1, 0.9, 0.9
    optimizer = make_optimizer([weight], TrainConfig(epochs=1, batch_size=1, lr=lr, momentum=momentum,
                                                     dampening=dampening))
    for _ in range(2):
        optimizer.zero_grad()
        (weight * grad).sum().backward()
        optimizer.step()
    buffer2 = momentum * grad + (1 - dampening) * grad
    torch.testing.assert_close(weight.detach(), -lr * grad - lr * buffer2, rtol=0, atol=1e-12)
    # Without dampening the second step is larger: the check can tell them apart.
    undamped = -lr * grad - lr * (momentum * grad + grad)
    assert (weight.detach() - undamped).abs().max() > 0.1
    with pytest.raises(ValueError, match="dampening must be in"):
        TrainConfig(epochs=1, batch_size=1, dampening=1.0)
