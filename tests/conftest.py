import importlib.util
import os
from pathlib import Path

import pytest
import torch

# Scripts that tests run as processes: not test modules, and importing them has effects (toy_cli
# registers an experiment), so --doctest-modules must not collect them.
collect_ignore_glob = ["*_script.py", "toy_cli.py"]

# CI machines have 2 cores; keep runs reproducible and avoid oversubscription.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One intra-op thread: on small tensors a second thread only adds synchronisation, and it stalls
    on a machine whose cores are busy with other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy_experiment():
    """Register the throwaway experiment ``toy`` (tests/toy_cli.py) for one test module."""
    from fullconv.experiments.registry import unregister

    spec = importlib.util.spec_from_file_location("toy_cli", Path(__file__).with_name("toy_cli.py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    yield
    unregister("toy")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in a fresh folder, with progress lines off."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FULLCONV_PROGRESS", "0")
    return tmp_path
