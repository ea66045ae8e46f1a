"""Run under torchrun (2 processes, gloo): fit + evaluate; each rank saves what it saw to OUT/rank<r>.pt."""
import sys
from pathlib import Path

import torch
import torch.nn as nn

from fullconv.training import InMemory, TrainConfig, evaluate, fit, init_from_env


def main() -> None:
    out = Path(sys.argv[1])
    dist = init_from_env("cpu")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(90, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    before = evaluate(model, InMemory(x[60:], y[60:]), device="cpu", batch_size=7)
    result = fit(model, InMemory(x[:60], y[:60]), InMemory(x[60:], y[60:]),
                 TrainConfig(epochs=2, batch_size=10, lr=0.1, momentum=0.9),
                 run_dir=out / f"run{dist.rank}", device="cpu", seed=0, progress=False)
    torch.save({"world_size": dist.world_size, "before": before, "history": result.history,
                "state": model.state_dict()}, out / f"rank{dist.rank}.pt")


if __name__ == "__main__":
    main()
