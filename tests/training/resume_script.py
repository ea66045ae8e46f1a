"""A small fit run as its own process, for the kill-and-resume test: python resume_script.py RUN_DIR OUT [--resume] [--slow]."""
import sys
import time

import torch
import torch.nn as nn

from fullconv.training import InMemory, TrainConfig, fit, set_deterministic


class SlowNet(nn.Module):
    """A small MLP with dropout (so the RNG state matters); optionally sleeps per batch to be killed mid-epoch."""

    def __init__(self, slow: bool) -> None:
        super().__init__()
        self.slow = slow
        self.body = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))

    def forward(self, x):
        if self.slow and self.training:
            time.sleep(0.03)
        return self.body(x)


def main() -> None:
    run_dir, out = sys.argv[1], sys.argv[2]
    set_deterministic()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(320, 8, generator=g)
    y = (x[:, :3].argmax(1) + (x[:, 3] > 1).long()) % 3
    torch.manual_seed(1)
    model = SlowNet(slow="--slow" in sys.argv)
    cfg = TrainConfig(epochs=6, batch_size=32, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True,
                      weight_decay=1e-4, schedule="cosine", keep_best="val_acc")
    result = fit(model, InMemory(x[:256], y[:256]), InMemory(x[256:], y[256:]), cfg, run_dir=run_dir,
                 device="cpu", seed=3, resume="--resume" in sys.argv, progress=False)
    history = [{k: v for k, v in r.items() if k != "time"} for r in result.history]
    torch.save({"state": model.state_dict(), "history": history, "best_epoch": result.best_epoch,
                "rng": torch.rand(4)}, out)


if __name__ == "__main__":
    main()
