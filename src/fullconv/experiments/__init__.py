"""Paper experiments: the registry and one module per experiment (config, presets, run, paper numbers, check)."""
from .config import ExperimentConfig
from .context import RunContext, unit_key
from .registry import Experiment, all_experiments, get, register

__all__ = ["Experiment", "ExperimentConfig", "RunContext", "all_experiments", "get", "register", "unit_key"]
