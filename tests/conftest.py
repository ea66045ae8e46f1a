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


@pytest.fixture
def one_thread():
    """One intra-op thread: on small tensors a second thread only adds synchronisation, and it stalls
    on a machine whose cores are busy with other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
