"""Runs a user can trust: unit identity, validation before any write, one-line errors, the folder lock,
interruption with --resume, completion as the last write.

In-process cases use the throwaway experiment ``toy`` (tests/toy_cli.py); locking and signals run
the toy CLI as real processes.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fullconv.cli import main

TOY = Path(__file__).with_name("toy_cli.py")
ENV = dict(os.environ, FULLCONV_PROGRESS="0", OMP_NUM_THREADS="1")


# the throwaway experiment "toy" of tests/toy_cli.py is registered for this module
pytestmark = pytest.mark.usefixtures("toy_experiment")


def results_of(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines and lines[-1].startswith("fullconv: error: ") and "Traceback" not in err, err
    assert sum(line.startswith("fullconv: error") for line in lines) == 1
    return lines[-1]


# ----------------------------------------------------------------------------- identity

def test_weights_are_part_of_a_units_identity(in_tmp, capsys):
    for name, value in (("a.pt", 1.0), ("b.pt", 2.0)):
        torch.save({"w": torch.full((2,), value)}, in_tmp / name)
    base = ["run", "toy", "--preset", "ci", "--out", "out"]
    assert main(base + ["--weights", "a.pt"]) == 0
    first = results_of(in_tmp / "out" / "toy")
    assert main(base + ["--weights", "b.pt"]) == 0
    second = results_of(in_tmp / "out" / "toy")
    assert second["identity"] != first["identity"]
    assert "--weights:" in capsys.readouterr().err  # the log names what differs
    assert (in_tmp / "out" / "toy" / second["units"] / "same" / "seed0" / "computed").read_text() == "x"


def test_data_spec_and_its_files_are_part_of_the_identity(in_tmp):
    data = in_tmp / "data"
    data.mkdir()
    (data / "x.bin").write_bytes(b"1")
    base = ["run", "toy", "--preset", "ci", "--out", "out", "--data", f"folder:{data}"]
    ids = []
    for change in (None, b"22", None):
        if change is not None:
            (data / "x.bin").write_bytes(change)  # same name, other size: other files
        assert main(base) == 0
        ids.append(results_of(in_tmp / "out" / "toy")["identity"])
    assert ids[0] != ids[1] and ids[1] == ids[2]
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 0  # no --data: another identity again
    assert results_of(in_tmp / "out" / "toy")["identity"] not in ids


def test_parallelism_knobs_reuse_finished_units(in_tmp, capsys):
    base = ["run", "toy", "--preset", "ci", "--out", "out"]
    assert main(base) == 0
    first = results_of(in_tmp / "out" / "toy")
    assert main(base + ["--set", "workers=3"]) == 0
    assert results_of(in_tmp / "out" / "toy")["identity"] == first["identity"]
    assert (in_tmp / "out" / "toy" / first["units"] / "same" / "seed0" / "computed").read_text() == "x"


def test_other_settings_in_one_identity_folder_are_refused_naming_the_key(in_tmp, capsys):
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 0
    units = in_tmp / "out" / "toy" / results_of(in_tmp / "out" / "toy")["units"]
    record = json.loads((units / "identity.json").read_text())
    record["config"]["epochs"] = 7
    (units / "identity.json").write_text(json.dumps(record))
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 2
    assert "holds units of other settings (epochs: 7 -> 1)" in one_error_line(capsys)


@pytest.mark.parametrize("name, sets", [
    ("red-green", []), ("rook", []), ("conv-types", []),
    ("patch-matching", []),                                 # ci reads offline Fashion-MNIST patches
    ("data-efficiency", []), ("shift", ["dataset=fashion-canvas"]), ("action", ["datasets=moving"]),
])
def test_experiments_that_would_ignore_data_refuse_it(in_tmp, capsys, name, sets):
    args = ["run", name, "--preset", "ci", "--out", "out", "--data", "foo:/x"]
    assert main(args + [item for s in sets for item in ("--set", s)]) == 2
    assert f"--data foo:/x: {name} does not read --data with these settings; drop it" in one_error_line(capsys)
    assert not (in_tmp / "out").exists()


def test_weights_of_an_experiment_that_takes_none_are_refused(in_tmp, capsys):
    torch.save({"w": torch.zeros(1)}, in_tmp / "w.pt")
    assert main(["run", "red-green", "--preset", "ci", "--out", "out", "--weights", "w.pt"]) == 2
    assert "red-green does not read --weights" in one_error_line(capsys)


# ----------------------------------------------------------------------------- validation before writing

@pytest.mark.parametrize("sets, message", [
    (["seeds=-1"], "--set seeds=-1: must be at least 1"),
    (["seeds=0"], "--set seeds=0: must be at least 1"),
    (["epochs=0"], "--set epochs=0: must be at least 1"),
    (["batch_size=0"], "--set batch_size=0: must be at least 1"),
    (["borders="], "--set borders: give at least one value"),
    (["borders=same,full,same"], "--set borders: same given more than once"),
    (["borders=same,fulll"], "--set borders: unknown border 'fulll'; choose one of:"),
    (["lr=nan"], "--set lr=nan: must be a finite positive number"),
])
def test_bad_values_are_refused_before_the_folder_is_claimed(in_tmp, capsys, sets, message):
    args = ["run", "red-green", "--preset", "ci", "--out", "out"]
    assert main(args + [item for s in sets for item in ("--set", s)]) == 2
    assert message in one_error_line(capsys)
    assert not (in_tmp / "out").exists()


def test_a_corrected_rerun_is_not_refused(in_tmp, capsys):
    assert main(["run", "toy", "--preset", "ci", "--out", "out", "--set", "seeds=-1"]) == 2
    assert main(["run", "toy", "--preset", "ci", "--out", "out", "--set", "seeds=1"]) == 0


def test_every_preset_of_every_experiment_is_valid():
    from fullconv.experiments.config import apply_preset
    from fullconv.experiments.registry import all_experiments
    for experiment in all_experiments():
        for preset in experiment.presets:
            apply_preset(experiment.config_cls, experiment.presets, preset)


def test_unusable_paths_and_weights_are_one_line_errors(in_tmp, capsys):
    (in_tmp / "file").write_text("not a folder")
    (in_tmp / "notes.pt").write_text("these are not weights")
    torch.save(torch.nn.Linear(2, 2), in_tmp / "whole.pt")
    torch.save({"w": torch.zeros(3)}, in_tmp / "cut.pt")
    (in_tmp / "cut.pt").write_bytes((in_tmp / "cut.pt").read_bytes()[:40])
    cases = [
        (["--out", "file"], "--out: file is a file, not a folder"),
        (["--out", "file/below"], "--out: file is a file, not a folder"),
        (["--out", "/proc/fullconv"], "--out: cannot write to /proc"),
        (["--weights", "notes.pt"], "--weights notes.pt: not a state_dict that torch can load safely"),
        (["--weights", "whole.pt"], "--weights whole.pt: not a state_dict that torch can load safely"),
        (["--weights", "cut.pt"], "--weights cut.pt: not a state_dict that torch can load safely"),
        (["--weights", "missing.pt"], "--weights missing.pt: no such file or folder"),
    ]
    for args, message in cases:
        assert main(["run", "quadrant", "--preset", "ci", "--set", "inits=pretrained", *args]) == 2, args
        assert message in one_error_line(capsys), args
    assert not (in_tmp / "runs").exists()


def test_weights_of_another_architecture_are_refused_before_writing(in_tmp, capsys):
    torch.save(torch.nn.Linear(2, 2).state_dict(), in_tmp / "linear.pt")
    args = ["run", "quadrant", "--preset", "ci", "--out", "out", "--set", "inits=pretrained", "--weights", "linear.pt"]
    assert main(args) == 2
    assert "backbone weights do not fit" in one_error_line(capsys)
    assert not (in_tmp / "out").exists()


def test_a_truncated_checkpoint_on_resume_is_one_line(in_tmp, capsys):
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 0
    units = in_tmp / "out" / "toy" / results_of(in_tmp / "out" / "toy")["units"]
    (units / "same" / "seed0" / "rows.json").unlink()
    checkpoint = units / "same" / "seed0" / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    assert main(["run", "toy", "--preset", "ci", "--out", "out", "--resume"]) == 2
    line = one_error_line(capsys)
    assert f"checkpoint {checkpoint.relative_to(in_tmp)} cannot be read" in line and "without --resume" in line


def test_errors_as_a_process_are_one_line_and_debug_adds_the_traceback(tmp_path):
    (tmp_path / "file").write_text("x")
    bad = [sys.executable, str(TOY), "run", "toy", "--preset", "ci", "--set", "borders=same", "--set", "epochs=1"]
    done = subprocess.run(bad + ["--out", "file"], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    done = subprocess.run(bad + ["--out", "file", "--debug"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "Traceback" in done.stderr and done.stderr.endswith("\nfullconv: error: --out: file is a file, not a folder; choose a folder as --out\n")


# ----------------------------------------------------------------------------- dry run

def test_dry_run_prints_the_resolved_configuration_and_writes_nothing(in_tmp, capsys):
    assert main(["run", "red-green", "--preset", "quick", "--set", "lr=0.5", "--dry-run"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["experiment"] == "red-green" and shown["preset"] == "quick"
    train = shown["config"]["train"]  # the training fields, nested as TrainConfig
    assert train["lr"] == 0.5 and train["epochs"] == 10 and train["batch_size"] == 200
    assert shown["config"]["borders"][0] == "valid" and "workers" not in shown["identity_fields"]["config"]
    assert list(in_tmp.iterdir()) == []


# ----------------------------------------------------------------------------- lock, interruption, completion

def _start(tmp_path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(TOY), "run", "toy", "--preset", "ci", "--out", "out", *args],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.05)


def test_second_run_into_a_locked_folder_refuses_and_a_stale_lock_is_taken_over(tmp_path):
    first = _start(tmp_path, "--set", "pause=0.2", "--set", "epochs=50")
    lock = tmp_path / "out" / "toy" / ".lock"
    try:
        _wait_for(tmp_path / "out" / "toy" / "run.json", first)
        second = subprocess.run([sys.executable, str(TOY), "run", "toy", "--preset", "ci", "--out", "out"],
                                cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        assert second.stderr == (f"fullconv: error: out/toy is in use by another fullconv run (pid {first.pid}); "
                                 f"wait for it to end or choose another --out\n")
    finally:
        first.kill()  # SIGKILL: the lock file stays behind with the dead pid in it
        first.communicate()
    assert lock.read_text().strip() == str(first.pid)
    third = subprocess.run([sys.executable, str(TOY), "run", "toy", "--preset", "ci", "--out", "out"],
                           cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert "toy: reproduced: yes" in third.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_within_seconds_and_resume_gives_the_same_numbers(tmp_path, signum):
    sets = ["--set", "pause=0.05", "--set", "epochs=6", "--set", "borders=same"]
    reference = subprocess.run([sys.executable, str(TOY), "run", "toy", "--preset", "ci", "--out", "ref",
                                "--set", "epochs=6", "--set", "borders=same"], cwd=tmp_path, env=ENV,
                               capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr
    run = _start(tmp_path, *sets)
    log = tmp_path / "out" / "toy" / "units"
    end = time.monotonic() + 120
    while not list(log.glob("*/same/seed0/checkpoint.pt")):  # one epoch done, more to go
        assert run.poll() is None and time.monotonic() < end, run.communicate()
        time.sleep(0.05)
    sent = time.monotonic()
    run.send_signal(signum)
    line = run.stderr.readline()  # printed when the run has stopped (the interpreter's exit takes a while more)
    assert time.monotonic() - sent < 5
    assert line == ("fullconv: interrupted; run the same command again with --resume to continue from the last "
                    "checkpoints\n")
    run.communicate(timeout=120)
    assert run.returncode == 130
    assert not (tmp_path / "out" / "toy" / "results.json").exists()
    history = [json.loads(line) for line in next(log.glob("*/same/seed0/log.jsonl")).read_text().splitlines()]
    assert 1 <= len(history) < 6
    resumed = subprocess.run([sys.executable, str(TOY), "run", "toy", "--preset", "ci", "--out", "out", *sets,
                              "--resume"], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert results_of(tmp_path / "out" / "toy")["rows"] == results_of(tmp_path / "ref" / "toy")["rows"]


def test_results_json_is_the_last_write(in_tmp, monkeypatch):
    import fullconv.report as report
    order = []
    real = report.figures_for

    def figures_for(name, results, out_dir):
        order.append(("figures", (Path(out_dir) / "results.json").exists()))
        return real(name, results, out_dir)
    monkeypatch.setattr(report, "figures_for", figures_for)
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 0
    assert order == [("figures", False)]  # drawn before results.json exists
    assert results_of(in_tmp / "out" / "toy")["figures"] == []


def test_a_run_stopped_while_drawing_is_not_complete(in_tmp, monkeypatch, capsys):
    import fullconv.report as report

    def broken(name, results, out_dir):
        raise KeyboardInterrupt
    monkeypatch.setattr(report, "figures_for", broken)
    assert main(["reproduce", "--preset", "ci", "--only", "toy", "--out", "out"]) == 130
    assert not (in_tmp / "out" / "toy" / "results.json").exists()
    monkeypatch.undo()
    monkeypatch.chdir(in_tmp)
    capsys.readouterr()
    assert main(["reproduce", "--preset", "ci", "--only", "toy", "--out", "out"]) == 0
    assert "toy: results exist, skipped" not in capsys.readouterr().err  # rerun, not trusted as done
    assert (in_tmp / "out" / "toy" / "results.json").exists()


# ----------------------------------------------------------------------------- help and version

def test_run_help_lists_presets_and_set_keys_with_types_defaults_and_meanings(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "red-green", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "quick      seeds=3, train.epochs=10, train.early_stopping=4" in out and "paper      the defaults" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    from fullconv.experiments.config import field_types
    from fullconv.experiments.red_green import Config
    for key in field_types(Config):
        assert key in lines, key
    assert lines["workers"].split()[1:3] == ["int", "2"] and "own process with one torch thread" in lines["workers"]
    assert lines["train.lr"].split()[1:3] == ["float", "1.0"] and "learning rate" in lines["train.lr"]
    assert lines["train.optimizer"].split()[1:3] == ["str", "adadelta"]  # the paper's optimiser, set in Config
    assert "tuple[str, ...]" in lines["borders"]
    assert "--device" in out and "CUDA when available" in out


def test_version(capsys):
    import fullconv
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"fullconv {fullconv.__version__}\n"


def test_sigterm_stops_red_green_worker_processes_within_seconds(tmp_path):
    sets = ["seeds=2", "n_train=100", "n_val=50", "n_test=50", "batch_size=50", "epochs=200", "early_stopping=0",
            "workers=2"]
    run = subprocess.Popen([sys.executable, "-m", "fullconv", "run", "red-green", "--preset", "ci", "--out", "out",
                            *[item for s in sets for item in ("--set", s)]], cwd=tmp_path, env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    units = tmp_path / "out" / "red-green" / "units"
    end = time.monotonic() + 300
    while not list(units.glob("*/*/checkpoint.pt")):  # a worker finished an epoch
        assert run.poll() is None and time.monotonic() < end, run.communicate()
        time.sleep(0.1)
    workers = [int(p) for p in Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()]
    assert workers
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)  # to the main process only: it must pass the stop on to its workers
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130
    assert err.splitlines()[-1].startswith("fullconv: interrupted; run the same command again with --resume")
    assert time.monotonic() - sent < 60  # borders left 200 epochs each: minutes if they went on
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert len(list(units.glob("*/*/rows.json"))) < 4 and not (tmp_path / "out" / "red-green" / "results.json").exists()


def test_off_a_terminal_each_finished_unit_prints_one_line(in_tmp, capsys):
    """With stderr not a terminal, a run prints one line per unit it trains, and none for cached ones."""
    args = ["run", "toy", "--preset", "ci", "--out", "out"]
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if " done (" in line]
    assert len(lines) == 4  # 2 borders × 2 seeds
    assert {line.split()[2] for line in lines} == {"same/seed0", "same/seed1", "full/seed0", "full/seed1"}
    assert main(args) == 0  # the second run reuses every unit: no unit line
    assert not [line for line in capsys.readouterr().err.splitlines() if " done (" in line]
