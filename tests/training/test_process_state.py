"""Process-wide state: experiments leave none behind, and reproduce starts every experiment alike."""
from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, replace

import pytest
import torch

from fullconv.cli import main
from fullconv.experiments import Experiment, ExperimentConfig, register
from fullconv.experiments.registry import unregister
from fullconv.experiments.runner import run_experiment
from fullconv.training import ProcessState, deterministic, process_state, set_deterministic, torch_threads


@pytest.fixture
def clean_state():
    """The test's starting state, restored afterwards whatever the test (or the code it runs) did."""
    with process_state() as before:
        yield before


def _changed(state: ProcessState) -> ProcessState:
    """A state that differs from ``state`` in every field that can be changed after torch started."""
    env = dict(state.environment)
    env["OMP_WAIT_POLICY"] = "PASSIVE" if env.get("OMP_WAIT_POLICY") != "PASSIVE" else "ACTIVE"
    env["FULLCONV_PROCESS_STATE_TEST"] = "1"
    return replace(state, threads=1 if state.threads != 1 else 2, deterministic=not state.deterministic,
                   deterministic_warn_only=not state.deterministic_warn_only,
                   fill_uninitialized_memory=not state.fill_uninitialized_memory,
                   cudnn_benchmark=not state.cudnn_benchmark, cudnn_deterministic=not state.cudnn_deterministic,
                   start_method="spawn" if state.start_method != "spawn" else "fork",
                   environment=tuple(sorted(env.items())))


def test_differences_name_the_changed_fields(clean_state):
    assert clean_state.differences(ProcessState.capture()) == {}
    # negative control: the comparison the tests below rely on sees a leak
    set_deterministic(not clean_state.deterministic)
    torch.set_num_threads(1 if clean_state.threads != 1 else 2)
    os.environ["FULLCONV_PROCESS_STATE_TEST"] = "1"
    differences = clean_state.differences(ProcessState.capture())
    assert {"threads", "deterministic", "cudnn_deterministic", "environment"} <= set(differences)
    assert differences["threads"] == (clean_state.threads, torch.get_num_threads())


def test_process_state_runs_the_block_under_a_state_and_restores_the_one_before(clean_state):
    target = _changed(clean_state)
    assert set(clean_state.differences(target)) == {
        "threads", "deterministic", "deterministic_warn_only", "fill_uninitialized_memory", "cudnn_benchmark",
        "cudnn_deterministic", "start_method", "environment"}
    with process_state(target) as entered:
        assert entered == clean_state
        assert ProcessState.capture() == target
        assert os.environ["FULLCONV_PROCESS_STATE_TEST"] == "1"
        assert multiprocessing.get_start_method(allow_none=True) == target.start_method
    assert ProcessState.capture() == clean_state
    assert "FULLCONV_PROCESS_STATE_TEST" not in os.environ


def test_state_is_restored_when_the_block_raises(clean_state):
    with pytest.raises(KeyError):
        with deterministic(not clean_state.deterministic):
            torch.set_num_threads(1 if clean_state.threads != 1 else 2)
            assert torch.are_deterministic_algorithms_enabled() is not clean_state.deterministic
            raise KeyError("inside")
    assert ProcessState.capture() == clean_state


@pytest.mark.parametrize("threads", [1, 0])
def test_torch_threads_sets_the_count_for_the_block_only(clean_state, threads):
    with torch_threads(threads):
        assert torch.get_num_threads() == (threads or clean_state.threads)
    assert ProcessState.capture() == clean_state


@pytest.mark.parametrize("name, sets", [
    # the parallel path: borders train in forked single-thread workers
    ("red-green", ["borders=same,full", "epochs=1", "n_train=200", "n_val=100", "n_test=100"]),
    ("rook", ["epochs=2"]),
])
def test_an_experiment_leaves_the_process_as_it_found_it(clean_state, tmp_path, monkeypatch, name, sets):
    monkeypatch.setenv("FULLCONV_PROGRESS", "0")
    with process_state() as before:
        # a start unlike what the experiments set: several threads, no deterministic kernels
        torch.set_num_threads(2)
        set_deterministic(False)
        start = ProcessState.capture()
        run_experiment(name, preset="ci", out=tmp_path, sets=sets, device="cpu")
        assert start.differences(ProcessState.capture()) == {}
    assert ProcessState.capture() == before


@dataclass(frozen=True)
class _ProbeConfig(ExperimentConfig):
    seeds: int = 1


def test_reproduce_starts_every_experiment_from_the_state_it_started_with(clean_state, tmp_path, monkeypatch):
    monkeypatch.setenv("FULLCONV_PROGRESS", "0")
    seen: dict[str, ProcessState] = {}

    def leaky(cfg, ctx):
        seen["leaky"] = ProcessState.capture()
        # what a careless experiment does: change process settings and not restore them
        torch.set_num_threads(1 if seen["leaky"].threads != 1 else 2)
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE" if os.environ.get("OMP_WAIT_POLICY") != "PASSIVE" else "ACTIVE"
        return [{"border": "same", "seed": 0}]

    def probe(cfg, ctx):
        seen["probe"] = ProcessState.capture()
        return [{"border": "same", "seed": 0}]

    for name, run in (("leaky-probe", leaky), ("state-probe", probe)):
        register(Experiment(name=name, summary="records the process state it runs in", config_cls=_ProbeConfig,
                            presets={"ci": {}}, run=run))
    try:
        before = ProcessState.capture()
        assert main(["reproduce", "--preset", "ci", "--only", "leaky-probe,state-probe", "--out",
                     str(tmp_path)]) == 0
    finally:
        unregister("leaky-probe")
        unregister("state-probe")
    # each run sees the state before reproduce plus the deterministic kernels the runner sets for it
    with deterministic(True):
        expected = ProcessState.capture()
    assert seen["leaky"] == seen["probe"] == expected
    assert ProcessState.capture() == before
