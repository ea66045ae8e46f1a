"""The one training loop (fit, evaluate), its data batching, checkpoints, seeding, progress, interruption and torchrun helpers."""
from . import interrupt
from .checkpoint import atomic_write_json, atomic_write_text, load_checkpoint, save_checkpoint
from .data import InMemory, epoch_order
from .distributed import DistInfo, init_from_env, is_main, resolve_device
from .loop import FitResult, TrainConfig, cross_entropy, evaluate, fit
from .progress import progress
from .seed import seed_everything, set_deterministic

__all__ = [
    "DistInfo", "FitResult", "InMemory", "TrainConfig", "atomic_write_json", "atomic_write_text", "cross_entropy",
    "epoch_order", "evaluate", "fit", "init_from_env", "interrupt", "is_main", "load_checkpoint", "progress", "resolve_device",
    "save_checkpoint", "seed_everything", "set_deterministic",
]
