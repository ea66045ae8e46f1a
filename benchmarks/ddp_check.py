"""DDP under torchrun against one process: evaluation agrees, and on CUDA SyncBatchNorm makes training agree.

Runs a small ResNet (BatchNorm after every convolution) as ``same``, ``full`` and ``full-exact``
twice: in one process with a batch of 16, and under ``torchrun --nproc_per_node N`` with a batch of
16 / N per process (nccl on CUDA when the machine has N GPUs, gloo on CPU otherwise). Prints one
line per variant:

- evaluation before training, sharded over the processes and reduced, against one process;
- how many SyncBatchNorm layers the trained model holds (``fit`` swaps them in under DDP on CUDA);
- on CUDA, the largest difference of weights and BatchNorm running statistics after one epoch to
  the one-process run on the global batch (SyncBatchNorm + DDP's gradient averaging = one process,
  up to float rounding); on CPU, where PyTorch's SyncBatchNorm cannot run and each process
  normalises its own half, whether the processes' weights stayed identical.

Exit status 1 when a check fails.

Usage: python benchmarks/ddp_check.py [--nproc 2] [--device auto|cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn as nn

BORDERS = ("same", "full", "full-exact")
GLOBAL_BATCH = 16
EVAL_TOLERANCE = 1e-5      # relative, on the mean loss: a different summation order
TRAIN_TOLERANCE = 1e-4     # absolute, on the weights after one epoch (GPU reductions are not bit-exact)


def worker(out: Path, device_choice: str) -> None:
    """One process of the check (alone or under torchrun): evaluate, train one epoch, save what it saw."""
    from fullconv import convert
    from fullconv.models import small_resnet
    from fullconv.training import InMemory, TrainConfig, evaluate, fit, init_from_env, resolve_device

    device = resolve_device(device_choice)
    dist = init_from_env(device)
    # float32 convolutions and matmuls: TF32 rounding would hide what the comparison looks for
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 3, 20, 20, generator=generator), torch.randint(0, 4, (48,), generator=generator)
    train, val = InMemory(x[:32], y[:32]), InMemory(x[32:], y[32:])
    cfg = TrainConfig(epochs=1, batch_size=GLOBAL_BATCH // dist.world_size, lr=0.05, momentum=0.9, amp=False,
                      channels_last=False)
    saved = {"world_size": dist.world_size, "backend": torch.distributed.get_backend() if dist.world_size > 1 else None}
    for border in BORDERS:
        torch.manual_seed(0)
        model = small_resnet((1, 1), width=8, in_channels=3, num_classes=4)
        model = model if border == "same" else convert(model, border)
        with torch.no_grad():
            model.train()(x[:32])  # running statistics of the data, not the initial ones, for the evaluation
        before = evaluate(model, val, device=device, batch_size=5)
        result = fit(model, train, val, cfg, run_dir=out / f"{border}-rank{dist.rank}", device=device, seed=0,
                     progress=False)
        saved[border] = {
            "before": before,
            "sync_batchnorm": sum(isinstance(m, nn.SyncBatchNorm) for m in result.model.modules()),
            "state": {k: v.detach().cpu() for k, v in result.model.state_dict().items()},
            "parameters": [k for k, _ in result.model.named_parameters()],
        }
    torch.save(saved, out / f"rank{dist.rank}.pt")


def launch(out: Path, nproc: int, device: str) -> None:
    script = str(Path(__file__).resolve())
    env = dict(os.environ, FULLCONV_PROGRESS="0")
    subprocess.run([sys.executable, script, "--worker", str(out / "single"), "--device", device], check=True, env=env)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                    script, "--worker", str(out / "ddp"), "--device", device], check=True, env=env)


def max_difference(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def compare(out: Path, nproc: int) -> bool:
    """Print the check lines; True when every check passed."""
    single = torch.load(out / "single" / "rank0.pt")
    ranks = [torch.load(out / "ddp" / f"rank{r}.pt") for r in range(nproc)]
    backend = ranks[0]["backend"]
    print(f"ddp check: {nproc} processes ({backend}) against one; batch {GLOBAL_BATCH} in all", flush=True)
    passed = True
    for border in BORDERS:
        one, many = single[border], ranks[0][border]
        loss_ok = abs(many["before"]["loss"] - one["before"]["loss"]) <= EVAL_TOLERANCE * abs(one["before"]["loss"])
        eval_ok = loss_ok and many["before"]["acc"] == one["before"]["acc"]
        # DDP keeps the parameters equal; the BatchNorm running statistics are each process's own on CPU
        weights = {k: many["state"][k] for k in many["parameters"]}
        in_step = max(max_difference(weights, r[border]["state"]) for r in ranks[1:])
        if backend == "nccl":
            synced = many["sync_batchnorm"] > 0 and all(r[border]["sync_batchnorm"] == many["sync_batchnorm"] for r in ranks)
            difference = max_difference(many["state"], one["state"])
            train_ok = synced and difference <= TRAIN_TOLERANCE
            training = f"trained weights vs one process: max |diff| {difference:.2e} (<= {TRAIN_TOLERANCE:g})"
        else:
            synced = many["sync_batchnorm"] == 0
            train_ok = synced and in_step == 0.0
            training = f"processes in step: max |diff| {in_step:.1e}; per-process BatchNorm on CPU, not compared"
        ok = eval_ok and train_ok
        passed &= ok
        print(f"{border:<11} eval loss {many['before']['loss']:.6f} vs {one['before']['loss']:.6f}, acc "
              f"{many['before']['acc']:.1f} vs {one['before']['acc']:.1f}; SyncBatchNorm layers {many['sync_batchnorm']}; "
              f"{training}; {'OK' if ok else 'FAILED'}", flush=True)
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        from fullconv.training.distributed import shutdown

        worker(args.worker, args.device)
        shutdown()
        return 0
    if GLOBAL_BATCH % args.nproc:
        parser.error(f"--nproc {args.nproc} must divide the global batch {GLOBAL_BATCH}")
    device = args.device
    if device == "auto":  # nccl: one GPU per process
        device = "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= args.nproc else "cpu"
    if device == "cuda" and torch.cuda.device_count() < args.nproc:
        parser.error(f"--device cuda needs one GPU per process: {args.nproc} processes, "
                     f"{torch.cuda.device_count()} GPUs; lower --nproc or use --device cpu")
    with tempfile.TemporaryDirectory() as folder:
        launch(Path(folder), args.nproc, device)
        return 0 if compare(Path(folder), args.nproc) else 1


if __name__ == "__main__":
    sys.exit(main())
