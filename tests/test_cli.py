"""The command line: list, run (caching, errors as one line with exit code 2), reproduce, pretrain dispatch.

Most cases call ``fullconv.cli.main`` in this process with a throwaway experiment ``toy`` (tests/toy_cli.py);
two run ``python -m fullconv`` / the toy script as real processes.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fullconv.cli import main

TOY = Path(__file__).with_name("toy_cli.py")
ENV = dict(os.environ, FULLCONV_PROGRESS="0")


# the throwaway experiment "toy" of tests/toy_cli.py is registered for this module
pytestmark = pytest.mark.usefixtures("toy_experiment")


def test_list_shows_every_registered_experiment():
    from fullconv.experiments import all_experiments
    done = subprocess.run([sys.executable, "-m", "fullconv", "list"], env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(e.name for e in all_experiments() if e.name != "toy")
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_run_writes_results_and_reuses_finished_units(in_tmp, capsys):
    args = ["run", "toy", "--preset", "ci", "--set", "borders=same,full-exact"]
    assert main(args) == 0
    assert "toy: reproduced:" in capsys.readouterr().out
    folder = in_tmp / "runs" / "ci" / "toy"
    results = json.loads((folder / "results.json").read_text())
    assert results["experiment"] == "toy" and results["preset"] == "ci"
    assert results["config"]["borders"] == ["same", "full-exact"] and results["config"]["epochs"] == 1
    assert [(r["border"], r["seed"]) for r in results["rows"]] == [("same", 0), ("same", 1), ("full-exact", 0),
                                                                   ("full-exact", 1)]
    assert [s["n"] for s in results["summary"]] == [2, 2]
    assert {"torch", "torchvision", "python", "device", "platform"} <= set(results["environment"])
    units = folder / results["units"]
    assert main(args) == 0
    assert (units / "same" / "seed0" / "computed").read_text() == "x"  # cached, not recomputed
    assert json.loads((folder / "results.json").read_text())["rows"] == results["rows"]
    assert main(args + ["--redo"]) == 0
    assert (units / "same" / "seed0" / "computed").read_text() == "x"  # folder deleted, computed anew


@pytest.mark.parametrize("args, message", [
    (["run", "nope"], "unknown experiment 'nope'; choose one of:"),
    (["run", "toy", "--preset", "huge"], "unknown preset 'huge'; choose one of: quick, ci"),
    (["run", "toy", "--set", "epochs=two"], "--set epochs=two: expected int"),
    (["run", "toy", "--set", "fail=maybe"], "--set fail=maybe: expected a bool"),
    (["run", "toy", "--set", "colour=red"], "--set colour: unknown key; choose one of: seeds, borders"),
    (["run", "toy", "--bogus"], "unrecognized arguments: --bogus"),
    (["reproduce", "--only", "toy,nope"], "unknown experiment 'nope'"),
])
def test_bad_input_is_one_line_and_exit_code_2(in_tmp, capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fullconv: error: ") and message in err


def test_error_line_as_a_process_has_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, str(TOY), "run", "toy", "--set", "seeds=1.5"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr == "fullconv: error: --set seeds=1.5: expected int\n"


def test_error_inside_an_experiment_keeps_finished_units(in_tmp, capsys):
    assert main(["run", "toy", "--preset", "ci", "--set", "fail=true"]) == 2
    err = capsys.readouterr().err
    assert err.endswith("\nfullconv: error: toy data source is missing; pass --data\n")
    assert "Traceback" not in err and err.count("fullconv: error") == 1
    assert len(list((in_tmp / "runs" / "ci" / "toy" / "units").glob("*/same/seed0/rows.json"))) == 1


def test_other_settings_train_new_units_next_to_the_old_ones(in_tmp, capsys):
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 0
    folder = in_tmp / "out" / "toy"
    first = json.loads((folder / "results.json").read_text())
    assert main(["run", "toy", "--preset", "ci", "--out", "out", "--set", "lr=0.1"]) == 0
    err = capsys.readouterr().err
    assert f"not reusing the units of other settings in units/{first['identity']} (lr: 0.5 -> 0.1)" in err
    second = json.loads((folder / "results.json").read_text())
    assert second["identity"] != first["identity"] and second["config"]["lr"] == 0.1
    for results in (first, second):  # both kept, each computed once
        assert (folder / results["units"] / "same" / "seed0" / "computed").read_text() == "x"
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 0  # back to the first settings: reused
    assert (folder / first["units"] / "same" / "seed0" / "computed").read_text() == "x"
    assert json.loads((folder / "results.json").read_text())["rows"] == first["rows"]


def test_folder_of_another_experiment_is_refused(in_tmp, capsys):
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 0
    run_file = in_tmp / "out" / "toy" / "run.json"
    run_file.write_text(run_file.read_text().replace('"toy"', '"rook"'))
    assert main(["run", "toy", "--preset", "ci", "--out", "out"]) == 2
    assert "holds results of experiment 'rook'; choose another --out" in capsys.readouterr().err
    assert main(["run", "toy", "--preset", "ci", "--out", "out/toy"]) == 2
    assert "is itself an experiment's output folder" in capsys.readouterr().err


def test_reproduce_runs_skips_existing_and_writes_the_report(in_tmp, capsys):
    assert main(["reproduce", "--preset", "ci", "--only", "toy", "--out", "out"]) == 0
    report = (in_tmp / "out" / "report.html").read_text()
    assert "Toy experiment" in report and "reproduced: <b>yes</b>" in report
    assert main(["reproduce", "--preset", "ci", "--only", "toy", "--out", "out"]) == 0
    assert "toy: results exist, skipped" in capsys.readouterr().err


def test_pretrain_dispatches_to_the_pretrain_module(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pretrain", "--help"])
    assert exit_.value.code == 0 and "fullconv pretrain" in capsys.readouterr().out


def test_run_under_torchrun_writes_once_from_rank_0(tmp_path):
    env = dict(ENV, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(TOY), "run", "toy", "--preset", "ci", "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("toy: reproduced: yes") == 1
    results = json.loads((tmp_path / "toy" / "results.json").read_text())
    assert len(results["rows"]) == 4 and all(0 <= r["acc"] <= 100 for r in results["rows"])
