"""``python toy_cli.py ARGS``: the fullconv CLI with a throwaway experiment ``toy`` registered (for tests)."""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from fullconv.cli import main
from fullconv.experiments import Experiment, ExperimentConfig, register
from fullconv.training import InMemory, TrainConfig, cross_entropy, fit


@dataclass(frozen=True)
class Config(ExperimentConfig):
    seeds: int = 2
    borders: tuple[str, ...] = ("same", "full")
    epochs: int = 2
    lr: float = 0.5
    fail: bool = False
    pause: float = 0.0  # seconds of sleep per training batch, so that tests can stop a run mid-training
    workers: int = 1  # a pure parallelism knob (not part of a unit's identity)


def run(cfg: Config, ctx) -> list[dict]:
    rows = []
    for border in cfg.borders:
        for seed in ctx.seeds:
            def unit(folder: Path, border=border, seed=seed) -> dict:
                with open(folder / "computed", "a") as marker:
                    marker.write("x")
                g = torch.Generator().manual_seed(seed)
                x = torch.randn(40, 3, generator=g)
                y = (x[:, 0] > 0).long()
                torch.manual_seed(seed)
                model = torch.nn.Linear(3, 2)

                def loss_fn(out, target):
                    time.sleep(cfg.pause)
                    return cross_entropy(out, target)
                result = fit(model, InMemory(x, y), InMemory(x, y), TrainConfig(epochs=cfg.epochs, batch_size=8,
                             lr=cfg.lr), run_dir=folder, device=ctx.device, seed=seed, progress=ctx.progress,
                             resume=ctx.resume, loss_fn=loss_fn)
                return {"border": border, "seed": seed, "acc": result.best["val_acc"]}
            rows.append(ctx.unit(f"{border}/seed{seed}", unit))
            if cfg.fail:
                raise ValueError("toy data source is missing; pass --data")
    return rows


def check(summary):
    return all(r["acc_mean"] > 50 for r in summary), "every border above chance"


register(Experiment(name="toy", summary="a throwaway experiment for CLI tests", config_cls=Config,
                    takes_data=lambda cfg: True, takes_weights=lambda cfg: True,
                    presets={"quick": {}, "ci": {"epochs": 1}}, run=run, group_by=("border",), metrics=("acc",),
                    paper={"same": {"acc": 99.0}}, check=check, title="Toy experiment"))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
