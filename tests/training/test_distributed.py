"""Under torchrun with gloo on CPU: DDP keeps the ranks in step, metrics are global, only rank 0 writes."""
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn

from fullconv.training import InMemory, evaluate

SCRIPT = Path(__file__).with_name("ddp_script.py")


def test_two_processes_agree_and_only_rank0_writes(tmp_path):
    env = dict(os.environ, FULLCONV_PROGRESS="0", OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    str(SCRIPT), str(tmp_path)], check=True, env=env, timeout=300)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]

    # evaluate before training: each rank saw half the items, the reduced result is that of one process
    g = torch.Generator().manual_seed(0)
    x = torch.randn(90, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(0)
    single = evaluate(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)), InMemory(x[60:], y[60:]),
                      device="cpu", batch_size=7)
    for rank in ranks:
        assert rank["before"]["acc"] == single["acc"]
        assert abs(rank["before"]["loss"] - single["loss"]) < 1e-6

    strip = [[{k: v for k, v in r.items() if k != "time"} for r in rank["history"]] for rank in ranks]
    assert strip[0] == strip[1]
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    assert (tmp_path / "run0" / "checkpoint.pt").exists() and (tmp_path / "run0" / "log.jsonl").exists()
    assert not (tmp_path / "run1").exists()


def test_sync_batchnorm_only_under_ddp_on_cuda_and_computes_the_same_function():
    import torchvision

    from fullconv import convert
    from fullconv.training import TrainConfig
    from fullconv.training.loop import sync_batchnorm

    torch.manual_seed(0)
    cfg = TrainConfig(epochs=1, batch_size=2)
    cuda = torch.device("cuda", 0)   # only inspected: no GPU is needed to build the converted model
    for device, world, members, config in ((torch.device("cpu"), 2, 1, cfg), (cuda, 1, 1, cfg), (cuda, 2, 3, cfg),
                                           (cuda, 2, 1, TrainConfig(epochs=1, batch_size=2, sync_batchnorm=False))):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        assert sync_batchnorm(model, config, device, world, members) is model
        assert isinstance(model[1], nn.BatchNorm2d) and not isinstance(model[1], nn.SyncBatchNorm)

    model = convert(torchvision.models.resnet18(num_classes=5), "full-exact")
    x = torch.randn(2, 3, 40, 40)
    model.train()(x)  # running statistics away from their initial values
    expected_train, expected_eval = model.train()(x), model.eval()(x)
    keys = {k: v.clone() for k, v in model.state_dict().items()}
    synced = sync_batchnorm(model, cfg, cuda, 2)
    norms = [m for m in synced.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    assert synced.state_dict().keys() == keys.keys()
    assert all(torch.equal(synced.state_dict()[k], v) for k, v in keys.items())
    # without a process group SyncBatchNorm normalises like BatchNorm: the same function in both modes
    assert torch.allclose(synced.eval()(x), expected_eval, atol=1e-6)
    assert torch.allclose(synced.train()(x), expected_train, atol=1e-6)
