"""Command line: ``fullconv list | run | reproduce | pretrain | probe``. Parsing and dispatch only.

Every error is one line ``fullconv: error: ...`` on stderr with exit code 2 (``--debug`` adds the
traceback): input errors (unknown experiment or preset, bad ``--set``, an unusable ``--out``,
``--data`` or ``--weights``) are found before anything is written, and results computed before a
later error stay on disk (unit caches), so running again continues. SIGINT/SIGTERM stop a run
between two batches with exit code 130.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

from . import __version__

RUN_HELP = """Results go to OUT/EXPERIMENT/ (results.json, figures, units/ with one folder per trained model).
Units that finished are cached under their identity (the resolved settings except pure parallelism
knobs, --weights content, --data files, device, package version) and reused by a later run with the
same identity; other settings train new units next to the old ones. A unit stopped mid-training
starts over unless --resume is given, which continues it from its last epoch's checkpoint with the
same numbers as an uninterrupted run. --redo deletes OUT/EXPERIMENT/ first. results.json is written
last: a folder holds a complete run exactly when it has one."""

REPRODUCE_HELP = """Runs every registered experiment in the paper's order and writes OUT/report.html.
Experiments whose OUT/EXPERIMENT/results.json holds a complete run of the same settings are skipped
(unless --redo), and an interrupted experiment continues from its cached units and checkpoints, so
running the same command again after an interruption finishes the work."""

DEVICE_HELP = ("where to train: auto (CUDA when available, else CPU), cpu, or cuda (the local rank's GPU "
               "under torchrun); results are deterministic on CPU (default: auto)")


class CliError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise CliError(f"{message} (see `{self.prog} -h`)")


class _RunHelp(argparse.Action):
    """``-h`` of ``run``: the general help, then the named experiment's presets and ``--set`` keys."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        name = getattr(namespace, "experiment", None)
        if name:
            from .experiments.config import config_help
            from .experiments.registry import get
            experiment = get(name)
            print(f"\n{experiment.name}: {experiment.summary}\n{config_help(experiment.config_cls, experiment.presets)}")
        else:
            print("\n`fullconv run NAME --help` lists the presets and --set keys of experiment NAME")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fullconv", description="Border handling of convolutions: the paper's "
                                     "experiments (Kayhan & van Gemert, CVPR 2020).")
    parser.add_argument("--version", action="version", version=f"fullconv {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="the registered experiments, one line each")
    _add_run(commands)
    _add_reproduce(commands)
    _add_probe(commands)
    commands.add_parser("pretrain", help="train a backbone for init=pretrained (see `fullconv pretrain -h`)",
                        add_help=False)
    return parser


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="run one experiment", description=RUN_HELP, add_help=False,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("-h", "--help", action=_RunHelp, help="show this help (with NAME: its presets and --set keys)")
    run.add_argument("experiment", help="its name, see `fullconv list`")
    run.add_argument("--preset", default="quick", help="named settings: quick (a 2-core CPU), paper (the paper's "
                     "protocol), medium (shift, data-efficiency, action: intervals of about +-1 point), ci, or the "
                     "experiment's own (default: quick)")
    run.add_argument("--out", type=Path, help="output root (default: runs/PRESET)")
    run.add_argument("--seeds", type=int, help="run seeds 0..N-1 (default: the preset's)")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help=DEVICE_HELP)
    run.add_argument("--resume", action="store_true", help="continue units stopped mid-training from their checkpoints")
    run.add_argument("--redo", action="store_true", help="delete this experiment's earlier results first")
    run.add_argument("--data", help="data source, e.g. folder:PATH or imagenet-val:PATH (see the experiment); "
                     "refused by settings that do not read data")
    run.add_argument("--weights", type=Path, help="pretrained weights: a state_dict file, or a folder of ARCH.pth")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config field (repeatable); tuples as comma lists; keys: `run NAME -h`")
    run.add_argument("--dry-run", action="store_true",
                     help="check everything, print the fully resolved configuration as JSON, write nothing")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")


def _add_reproduce(commands) -> None:
    reproduce = commands.add_parser("reproduce", help="run every experiment and write report.html",
                                    description=REPRODUCE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    reproduce.add_argument("--preset", default="quick", help="preset of every experiment (default: quick)")
    reproduce.add_argument("--out", type=Path, help="output root (default: runs/PRESET)")
    reproduce.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help=DEVICE_HELP)
    reproduce.add_argument("--redo", action="store_true", help="rerun experiments that already have results")
    reproduce.add_argument("--only", help="comma list of experiments to run (the report shows every result in OUT)")
    reproduce.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show the traceback of an error")


def _add_probe(commands) -> None:
    probe = commands.add_parser("probe", help="how much a CNN exploits absolute position, and what a border "
                                "variant changes (probe.json, figures, probe.html)")
    probe.add_argument("model", help="a fullconv or torchvision name (resnet50, small_resnet), timm:NAME, "
                                      "module:factory, or a saved model file")
    probe.add_argument("--weights", type=Path, help="state_dict file for MODEL")
    probe.add_argument("--data", default="fashion-mnist", help="fashion-mnist (default) or folder:PATH of images")
    probe.add_argument("--border", default="full-exact", help="variant to convert to (default: full-exact)")
    probe.add_argument("--out", type=Path, help="output folder (default: runs/probe/MODEL); holds the feature cache")
    probe.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    probe.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a probe setting (fullconv.probing.ProbeConfig), e.g. frames=0,16,32")
    probe.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an error")


def _list() -> int:
    from .experiments.registry import all_experiments, ordered
    experiments = ordered(all_experiments())
    width = max((len(e.name) for e in experiments), default=0)
    for experiment in experiments:
        print(f"{experiment.name:<{width}}  {experiment.summary}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .experiments.runner import plan_run, run_experiment
    from .report.tables import verdict_line
    from .training.distributed import is_main
    options = dict(preset=args.preset, out=args.out, seeds=args.seeds, device=args.device, data=args.data,
                   weights=args.weights, sets=args.sets)
    if args.dry_run:
        print(json.dumps(plan_run(args.experiment, **options).describe(), indent=1))
        return 0
    from .report import figures_for
    results = run_experiment(args.experiment, resume=args.resume, redo=args.redo, draw=figures_for, **options)
    if not is_main():
        return 0
    print(f"{results['experiment']}: {verdict_line(results['pattern'])} ({results['wall_time_s']:.0f} s)")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .experiments.identity import differences
    from .experiments.registry import all_experiments, get, ordered
    from .experiments.runner import default_out, has_results, plan_run, run_experiment, stored_identity
    from .report import figures_for
    from .report.html import write_report
    from .report.tables import verdict_word
    from .training import interrupt
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
        interrupt.check()  # a stop asked for during the previous experiment: start no other
        step = f"[{i}/{len(experiments)}] {experiment.name}"
        start = time.perf_counter()
        try:
            plan = plan_run(experiment, preset=args.preset, out=out, device=args.device)
            if not args.redo and has_results(plan.folder, plan.identity_id):
                print(f"{step}: results exist, skipped", file=sys.stderr)
                continue
            theirs = stored_identity(plan.folder)
            changed = "; ".join(differences(theirs, plan.identity)) if theirs else ""
            print(f"{step} ..." + (f" (results there are of other settings: {changed})" if changed else ""),
                  file=sys.stderr, flush=True)
            with process_state(start_state):
                results = run_experiment(experiment, preset=args.preset, out=out, device=args.device, resume=True,
                                         redo=args.redo, draw=figures_for)
        except (ValueError, OSError) as error:
            failures[experiment.name] = _one_line(error)
            print(f"fullconv: {experiment.name} failed: {_one_line(error)}", file=sys.stderr)
            continue
        except Exception as error:  # one broken experiment must not lose the others' report
            failures[experiment.name] = _one_line(error)
            traceback.print_exc()
            continue
        print(f"{step}: {verdict_word(results['pattern'])} ({time.perf_counter() - start:.0f} s)",
              file=sys.stderr, flush=True)
    report = write_report(out, failures=failures)
    print(report)
    if failures:
        print(f"fullconv: error: {len(failures)} experiment(s) failed: {', '.join(failures)}; see {report}",
              file=sys.stderr)
        return 1
    return 0


def _probe(args: argparse.Namespace) -> int:
    from .convert import ConversionError
    from .experiments.config import parse_sets
    from .probing import ProbeConfig, load_model, load_weights, probe

    name = Path(args.model).stem if Path(args.model).is_file() else args.model.replace("timm:", "")
    config = ProbeConfig(**parse_sets(ProbeConfig, args.sets))
    model = load_model(args.model)
    if args.weights is not None:
        load_weights(model, args.weights, name)
    out = args.out if args.out is not None else Path("runs") / "probe" / name.replace(":", "-").replace("/", "-")
    start = time.perf_counter()
    try:
        result = probe(model, args.data, border=args.border, name=name, out=out, config=config, device=args.device)
    except ConversionError as error:
        raise CliError(str(error)) from None
    result.save(out)
    print(f"{result.verdict} ({time.perf_counter() - start:.0f} s; {out / 'probe.html'})")
    return 0


def _pretrain(argv: Sequence[str]) -> int:
    from .experiments import pretrain  # imported on use: the other commands need none of its data readers

    return int(pretrain.main(list(argv)) or 0)


COMMANDS = {"list": lambda args: _list(), "run": _run, "reproduce": _reproduce, "probe": _probe}


def _one_line(error: BaseException) -> str:
    """The first line of an error's message; its type as well when that is all the message says."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(error, (CliError, ValueError, OSError)) and first:
        return first
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fullconv`` and ``python -m fullconv``; returns the exit code."""
    from .training.interrupt import ADVICE, stop_on_signals
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    command = next((a for a in argv if not a.startswith("-")), "")
    try:
        if argv[:1] == ["pretrain"]:
            return _pretrain(argv[1:])
        args = _parser().parse_args(argv)
        with stop_on_signals():
            return COMMANDS[args.command](args)
    except KeyboardInterrupt as interrupt:
        advice = "run the same command again to continue" if command == "reproduce" else ADVICE
        print(f"fullconv: interrupted; {advice}", file=sys.stderr)
        if debug:
            traceback.print_exception(interrupt)
        return 130
    except Exception as error:  # every error is one line; --debug shows where it came from
        if debug:
            traceback.print_exc()
        hint = "" if isinstance(error, (CliError, ValueError, OSError)) or debug else \
            " (rerun with --debug for the traceback)"
        print(f"fullconv: error: {_one_line(error)}{hint}", file=sys.stderr)
        return 2
    finally:
        from .training.distributed import shutdown
        shutdown()
