"""Command line: ``fullconv list | run | reproduce | pretrain``. Parsing and dispatch only.

Errors of input (unknown experiment or preset, bad ``--set``, a folder holding other results, a
missing data set) are one line ``fullconv: error: ...`` on stderr and exit code 2; results computed
before the error stay on disk (unit caches), so running again continues.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

RUN_HELP = """Results go to OUT/EXPERIMENT/ (results.json, figures, units/ with one folder per trained model).
Units that finished are cached and reused by a later run with the same preset and settings; a unit
killed mid-training starts over unless --resume is given, which continues it from its last epoch's
checkpoint with the same numbers as an uninterrupted run. --redo deletes OUT/EXPERIMENT/ first."""

REPRODUCE_HELP = """Runs every registered experiment in the paper's order and writes OUT/report.html.
Experiments whose OUT/EXPERIMENT/results.json exists for this preset are skipped (unless --redo), and
an interrupted experiment continues from its cached units and checkpoints, so running the same
command again after an interruption finishes the work."""


class CliError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise CliError(f"{message} (see `{self.prog} -h`)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fullconv", description="Border handling of convolutions: the paper's "
                                     "experiments (Kayhan & van Gemert, CVPR 2020).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="the registered experiments, one line each")

    run = commands.add_parser("run", help="run one experiment", description=RUN_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("experiment", help="its name, see `fullconv list`")
    run.add_argument("--preset", default="quick", help="named settings: quick (a 2-core CPU), paper (the paper's "
                     "protocol), ci, or the experiment's own (default: quick)")
    run.add_argument("--out", type=Path, help="output root (default: runs/PRESET)")
    run.add_argument("--seeds", type=int, help="run seeds 0..N-1 (default: the preset's)")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    run.add_argument("--resume", action="store_true", help="continue units killed mid-training from their checkpoints")
    run.add_argument("--redo", action="store_true", help="delete this experiment's earlier results first")
    run.add_argument("--data", help="data source, e.g. folder:PATH or imagenet-val:PATH (see the experiment)")
    run.add_argument("--weights", type=Path, help="pretrained weights file or folder")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config field (repeatable); tuples as comma lists")

    reproduce = commands.add_parser("reproduce", help="run every experiment and write report.html",
                                    description=REPRODUCE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    reproduce.add_argument("--preset", default="quick", help="preset of every experiment (default: quick)")
    reproduce.add_argument("--out", type=Path, help="output root (default: runs/PRESET)")
    reproduce.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    reproduce.add_argument("--redo", action="store_true", help="rerun experiments that already have results")
    reproduce.add_argument("--only", help="comma list of experiments to run (the report shows every result in OUT)")

    commands.add_parser("pretrain", help="train a backbone for init=pretrained (see `fullconv pretrain -h`)",
                        add_help=False)
    return parser


def _list() -> int:
    from .experiments.registry import all_experiments, ordered
    experiments = ordered(all_experiments())
    width = max((len(e.name) for e in experiments), default=0)
    for experiment in experiments:
        print(f"{experiment.name:<{width}}  {experiment.summary}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .experiments.runner import run_experiment
    from .training.distributed import is_main
    results = run_experiment(args.experiment, preset=args.preset, out=args.out, seeds=args.seeds, device=args.device,
                             resume=args.resume, redo=args.redo, data=args.data, weights=args.weights, sets=args.sets)
    if not is_main():
        return 0
    pattern = results["pattern"]
    verdict = {True: "yes", False: "no", None: "not checked"}[pattern["reproduced"]]
    print(f"{results['experiment']}: reproduced: {verdict} — {pattern['detail']} "
          f"({results['wall_time_s']:.0f} s)")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .experiments.registry import all_experiments, get, ordered
    from .experiments.results import RESULTS
    from .experiments.runner import default_out, run_experiment
    from .report.html import write_report
    from .training.process_state import ProcessState, process_state
    from .training.progress import progress

    out = args.out if args.out is not None else default_out(args.preset)
    experiments = ordered(all_experiments())
    if args.only:
        experiments = ordered([get(name.strip()) for name in args.only.split(",") if name.strip()])
    for experiment in experiments:
        if args.preset not in experiment.presets:
            raise CliError(f"experiment {experiment.name!r} has no preset {args.preset!r}; "
                           f"choose one of: {', '.join(experiment.presets)}")
    failures: dict[str, str] = {}
    start_state = ProcessState.capture()  # every experiment starts from it, whatever ran before
    bar = progress(experiments, desc="reproduce", total=len(experiments))
    for i, experiment in enumerate(bar, 1):
        results_file = out / experiment.name / RESULTS
        if not args.redo and _has_results(results_file, args.preset):
            print(f"[{i}/{len(experiments)}] {experiment.name}: results exist, skipped", file=sys.stderr)
            continue
        print(f"[{i}/{len(experiments)}] {experiment.name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            with process_state(start_state):
                results = run_experiment(experiment, preset=args.preset, out=out, device=args.device, resume=True,
                                         redo=args.redo)
        except (ValueError, FileNotFoundError) as error:
            failures[experiment.name] = str(error)
            print(f"fullconv: {experiment.name} failed: {error}", file=sys.stderr)
            continue
        except Exception as error:  # one broken experiment must not lose the others' report
            failures[experiment.name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
            continue
        verdict = {True: "yes", False: "no", None: "not checked"}[results["pattern"]["reproduced"]]
        print(f"[{i}/{len(experiments)}] {experiment.name}: reproduced: {verdict} "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    report = write_report(out, failures=failures)
    print(report)
    if failures:
        print(f"fullconv: error: {len(failures)} experiment(s) failed: {', '.join(failures)}; see {report}",
              file=sys.stderr)
        return 1
    return 0


def _has_results(path: Path, preset: str) -> bool:
    import json
    try:
        return json.loads(path.read_text()).get("preset") == preset
    except (OSError, ValueError):
        return False


def _pretrain(argv: Sequence[str]) -> int:
    try:
        module = importlib.import_module("fullconv.experiments.pretrain")
    except ModuleNotFoundError as error:
        if error.name != "fullconv.experiments.pretrain":
            raise
        raise CliError("`fullconv pretrain` is not available in this installation "
                       "(no module fullconv.experiments.pretrain)") from None
    return int(module.main(list(argv)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fullconv`` and ``python -m fullconv``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["pretrain"]:
            return _pretrain(argv[1:])
        args = _parser().parse_args(argv)
        if args.command == "list":
            return _list()
        if args.command == "run":
            return _run(args)
        return _reproduce(args)
    except (CliError, ValueError, FileNotFoundError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"fullconv: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fullconv: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    finally:
        from .training.distributed import shutdown
        shutdown()
