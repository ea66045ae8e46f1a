"""The one training loop (fit; its pieces TrainState, train_one_epoch, validate; evaluate), batching, checkpoints,
seeding, process state, progress, interruption, torchrun."""
from . import interrupt
from .checkpoint import atomic_write_json, atomic_write_text, load_checkpoint, save_checkpoint
from .data import InMemory, epoch_order
from .distributed import DistInfo, init_from_env, is_main, resolve_device
from .loop import FitResult, TrainConfig, TrainState, cross_entropy, evaluate, fit, train_one_epoch, validate
from .process_state import ProcessState, process_state, torch_threads
from .progress import progress
from .seed import deterministic, seed_everything, set_deterministic

__all__ = [
    "DistInfo", "FitResult", "InMemory", "ProcessState", "TrainConfig", "TrainState", "atomic_write_json",
    "atomic_write_text",
    "cross_entropy", "deterministic", "epoch_order", "evaluate", "fit", "init_from_env", "interrupt", "is_main",
    "load_checkpoint", "process_state", "progress", "resolve_device", "save_checkpoint", "seed_everything",
    "set_deterministic", "torch_threads", "train_one_epoch", "validate",
]
