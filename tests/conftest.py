import os

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
