"""Command line: parses flags into a TrainConfig and calls into the package.

Every mistake a user can make ends here as one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import shlex
import sys
from pathlib import Path

from gan import config as config_module
from gan import quiet
from gan.balance import BALANCE_RULES
from gan.config import TrainConfig
from gan.errors import (BadImageFolder, LooseImages, TooFewClasses, UsageError, counted,
                        printable)
from gan.export import FORMATS
from gan.projection import DEFAULT_STEPS

# Flags that may change when a run is resumed: they extend it.
EXTENDABLE = ("epochs", "max_minutes")
EVALUATE_SAMPLES = 1000
# The flags each --TYPE takes; any other flag given is an error, never silently ignored.
_CONFIG_FLAGS = tuple(f.name for f in config_module.fields())
_A_RUN = ("runs_dir", "run", "checkpoint")
FLAGS_BY_TYPE = {
    "train": _CONFIG_FLAGS + ("runs_dir", "name", "resume"),
    "check": _CONFIG_FLAGS,
    "generate": _A_RUN + ("out", "img_num", "seed", "seeds", "truncation", "label"),
    "interpolate": _A_RUN + ("out", "seeds", "images", "steps", "frames", "loop", "truncation",
                             "label"),
    "encode": _A_RUN + ("out", "images", "steps"),
    "timelapse": ("runs_dir", "run"),
    "export": _A_RUN + ("out", "format"),
    "evaluate": _A_RUN + ("img_num", "seed", "path", "img_size", "images", "train", "json"),
}
LATEST = "<latest>"
RUNS_DIR = "runs"  # --runs_dir's default


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):  # no "(default: None)"
        return action.help if action.default is None else super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see python train.py --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python train.py",
        description="Train a DCGAN with margin-gated G/D balance on a folder of images, "
                    "then generate new ones.",
        formatter_class=_HelpFormatter)
    parser.add_argument("--TYPE", "--type", dest="TYPE", default="train",
                        choices=("train", "check", "generate", "evaluate", "interpolate",
                                 "encode", "timelapse", "export"),
                        help="what to do")
    train = parser.add_argument_group("training (--TYPE train; --TYPE check takes these too)")
    for field in config_module.fields():
        _add_config_flag(train, field)
    train.add_argument("--name", help="run folder name (default: a new numbered name such "
                                      "as 00003-faces)")
    train.add_argument("--resume", nargs="?", const=LATEST, metavar="NAME",
                       help="continue run NAME (default: the latest) from its latest "
                            "checkpoint with its saved configuration")
    both = parser.add_argument_group("run folders (every --TYPE but check)")
    both.add_argument("--runs_dir", default=RUNS_DIR, help="folder holding the runs")
    gen = parser.add_argument_group(
        "using a trained run (--TYPE generate, evaluate, interpolate, encode, timelapse, "
        "export)")
    gen.add_argument("--img_num", type=int, default=16,
                     help=f"how many images to generate (evaluate: {EVALUATE_SAMPLES})")
    gen.add_argument("--run", help="run to use (default: the latest)")
    gen.add_argument("--checkpoint", default="latest",
                     help="latest, best, a checkpoint name (epoch_0010) or its folder; "
                          "evaluate also takes all")
    gen.add_argument("--out", help="output folder, new or empty (default: "
                                   "<run>/generated/<k>/); --seed S makes image k that of "
                                   "seed S + k (default: random, printed)")
    gen.add_argument("--seeds", metavar="LIST",
                     help="generate: one image per seed, e.g. 0-15,42, written as "
                          "seed0042.png; a seed always gives the same image")
    gen.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                     help="generate, interpolate: scale the latents by PSI in (0, 1]: lower "
                          "gives more typical, less varied images")
    gen.add_argument("--label", metavar="CLASS",
                     help="generate, interpolate: the class of a --conditional run (one of "
                          "its subfolder names); generate without it writes every class")
    gen.add_argument("--frames", type=int, default=48,
                     help="interpolate: frames of the animation through --seeds or --images")
    # DEFAULT_STEPS, measured 2026-12-03 on a default run (64 px, width 32, 1,400 batches on
    # faces-400) encoding 8 held-out faces: the whole command took 11.7 s of CPU time on one
    # core of the 2-core AVX-512 machine (3.6 s of it the 200 steps); mean error 25.6 of 255
    # after 100 steps, 24.9 after 200, 24.6 after 400.
    gen.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                     help="encode, interpolate --images: optimisation steps that find each "
                          "photo's latent (more: closer reconstructions, slower)")
    gen.add_argument("--loop", action="store_true",
                     help="interpolate: return from the last seed to the first")
    gen.add_argument("--format", choices=FORMATS,
                     help="export: the generator's file format (see gan/export.py)")
    ev = parser.add_argument_group(
        "evaluation (--TYPE evaluate): a run's samples against its training data (or "
        "--path), or a folder of images (--images) against --path")
    ev.add_argument("--images", metavar="DIR_OR_FILES",
                    help="a folder of images (encode, interpolate: or comma-separated image "
                         "files): evaluate scores them against --path; encode and interpolate "
                         "project these photos into the run's latent space")
    ev.add_argument("--train", help="with --images: the generator's training images, for the "
                                    "memorisation ratio")
    ev.add_argument("--json", action="store_true",
                    help="print one JSON object per scored set instead of a summary")
    return parser


def _add_config_flag(group, field: dataclasses.Field) -> None:
    extra = {k: v for k, v in field.metadata.items() if k != "help"}
    if field.type.split(" ")[0] == "bool":  # "bool" or "bool | None" (None: auto)
        extra["action"] = argparse.BooleanOptionalAction
    else:  # field.type is the annotation as text: "int", "float | None", ...
        extra["type"] = {"int": int, "float": float, "str": str}[field.type.split(" ")[0]]
    group.add_argument(f"--{field.name}", default=field.default,
                       help=field.metadata["help"], **extra)


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, dict]:
    """Returns all values (defaults filled in) and the flags given explicitly."""
    parser = build_parser()
    values = parser.parse_args(argv)
    for action in parser._actions:  # parse again without defaults to see what was given
        action.default = argparse.SUPPRESS
    explicit = vars(parser.parse_args(argv))
    explicit.pop("TYPE", None)
    return values, explicit


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    if argv is None:  # the process's own command line: its terminal is the user's
        quiet.filter_native_stderr()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's INFO lines; not warnings
    try:
        args, explicit = parse(argv)
        _reject(explicit, explicit.keys() - set(FLAGS_BY_TYPE[args.TYPE]), args.TYPE)
        run = {"train": run_train, "check": run_check, "generate": run_generate,
               "evaluate": run_evaluate, "interpolate": run_interpolate, "encode": run_encode,
               "timelapse": run_timelapse, "export": run_export}[args.TYPE]
        return run(args, explicit)
    except UsageError as error:
        print(f"error: {printable(explain(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # disk full, read-only folder, ...
        print(f"error: {error.strerror or error}: {error.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 1


def explain(error: UsageError) -> str:
    """The one line the command line prints for `error`: the library's typed errors carry
    the facts, worded here in terms of flags and commands."""
    from gan import errors
    wording = {
        errors.RunsDirUnwritable: lambda e: (
            f"--runs_dir {e.runs_dir}: cannot create {'a run folder there' if e.in_it else 'it'}"
            f" ({e.reason}); choose a writable folder with --runs_dir"),
        errors.BadRunName: lambda e: f"--name {e.name!r}: give a plain folder name, without '/'",
        errors.RunExists: lambda e: (
            f"run folder {e.runs_dir / e.name} already exists; continue it with --resume "
            f"{shlex.quote(e.name)} or choose another --name"),
        errors.RunNotFound: lambda e: _run_not_found(e, "--run"),
        errors.CheckpointNotFound: _checkpoint_not_found,
        errors.CheckpointMismatch: lambda e: f"{e}; choose another with --checkpoint",
        errors.UnknownLabel: lambda e: (
            f"--label {e.label}: not a class of this run; its classes are "
            f"{', '.join(e.classes)}" if e.classes else
            "--label: this run was not trained with --conditional"),
        errors.OutputExists: lambda e: (
            f"--out {e.path} exists and is not an empty folder; choose a new folder so nothing "
            "is overwritten"),
    }
    return wording.get(type(error), str)(error)


def _run_not_found(error, flag: str) -> str:
    if error.name is None:
        return (f"no training runs in {error.runs_dir}/; train one first (--TYPE train), or "
                "point --runs_dir at your runs")
    return (f"{flag} {error.name}: no such run in {error.runs_dir}/ (runs there: "
            f"{error.listed()}); give one of those, or "
            + ("--resume without a name" if flag == "--resume" else f"leave {flag} out")
            + " for the latest")


def _checkpoint_not_found(error) -> str:
    if error.which == "best":
        return (f"--checkpoint best: none in {error.folder}; this run has no scored checkpoint "
                "yet (see --eval_every); use --checkpoint latest")
    if error.which == "latest":
        return (f"--checkpoint latest: none in {error.folder}; it was stopped before its first "
                "checkpoint")
    return (f"--checkpoint {error.which}: no checkpoint there (this run has: "
            f"{', '.join(error.available) or 'none'}); use latest, best or one of those")


def _reject(explicit: dict, flags, mode: str) -> None:
    for flag in sorted(flags):
        if flag in explicit:
            raise UsageError(f"--{flag} has no effect with --TYPE {mode}; remove it")


def run_train(args, explicit: dict) -> int:
    from gan import distribute
    from gan.training import TrainingDiverged, train

    runs_dir = Path(args.runs_dir)
    config_flags = {k: v for k, v in explicit.items()
                    if k in {f.name for f in config_module.fields()}}
    if "path" in config_flags:
        config_flags["path"] = str(Path(config_flags["path"]).expanduser().resolve())
    # From --distribute or its default even on --resume: the other workers may lack the
    # run folder whose config.json holds the saved value.
    worker = distribute.worker(config_flags.get("distribute", TrainConfig.distribute))
    _check_worker_names(worker, args, explicit, runs_dir)
    run, config, resumed = _run_and_config(args, explicit, config_flags, worker)
    folder, images, labels, classes = _training_data(config, run, worker, runs_dir)
    if "resume" not in explicit:
        from gan.runs import Run
        run = Run.create(runs_dir, args.name if "name" in explicit else None,
                         folder.name if config.path else "demo") \
            if worker.is_chief else Run(runs_dir / args.name)
    if worker.is_chief:
        # A resumed run's files are rewritten only when they change (train writes
        # config.json once the checkpoint is read): a refused resume leaves the run as it was.
        if "resume" not in explicit:
            config.save(run.config_file)
            if classes:
                run.save_classes(classes)
        run.record_skipped(images.skipped)
    else:
        print(f"{worker.name} of {worker.count}: the chief writes run {run.name}; this worker "
              "saves its copy of each checkpoint in a temporary folder, deleted at the end")
    try:
        config = _announce(config, run, folder, images, classes, labels)
    except KeyboardInterrupt:  # while measuring the step: the run exists, with no checkpoint
        print("interrupted before the first training step; resume with: " + _command(
            "--TYPE", "train", "--resume", run.name, *_runs_dir_flag(runs_dir)), file=sys.stderr)
        return 130
    resume = "resume" in explicit and resumed is not None
    if "resume" in explicit and not resume:
        print(f"run {run.name} stopped before its first checkpoint and training step: "
              "starting it again")
    try:
        with run.lock() if worker.is_chief else contextlib.nullcontext(), \
                distribute.write_dir(run.folder, worker) as write_dir:
            outcome = train(config, run.folder, images.array, resume=resume, labels=labels,
                            num_classes=len(classes), write_dir=write_dir)
    except TrainingDiverged as error:
        print(f"error: {error}" + ("; try lower --lr_g/--lr_d" if error.step else ""),
              file=sys.stderr)
        return 1
    if not worker.is_chief:
        print(f"{worker.name} of {worker.count} stopped; the chief wrote run {run.name}")
        return outcome.exit_code
    _report_outcome(outcome, config, run, runs_dir)
    return outcome.exit_code


def _run_and_config(args, explicit: dict, config_flags: dict, worker):
    """(run, config, state): on --resume the run, its saved config with the extending flags
    and the state of the checkpoint to continue from (None: it stopped before its first);
    for a new run (None, the config of the flags, None)."""
    from gan.runs import Run
    run, resumed = None, None
    if "resume" in explicit:
        _reject(explicit, ("name",), "train --resume")
        run = _find_run(args, explicit, "--resume")
        config = _resumed_config(run, config_flags)
        resumed = _resumable_state(run)
        if resumed is not None:
            _check_more_epochs(run, config, resumed)
    else:
        config = TrainConfig.from_flags(config_flags)
        if "name" in explicit and worker.is_chief:
            # Before the data is read: one line, at once.
            Run.check_new_name(Path(args.runs_dir), args.name)
    config.validate()
    return run, config, resumed


@dataclasses.dataclass
class _Images:
    array: object   # uint8 (N, S, S, C)
    skipped: list   # files of the folder that could not be read


@contextlib.contextmanager
def _images_from(flag: str):
    """Words the errors of loading a folder of images in terms of `flag`, the flag that
    named the folder."""
    try:
        yield
    except BadImageFolder as error:
        raise UsageError(f"{flag} {error.folder}: {error.problem}") from None
    except LooseImages as error:
        raise UsageError(f"--conditional: {error.count} images lie directly in {flag} "
                         f"{error.folder} (e.g. {error.example}); put each image in a "
                         "subfolder named by its class") from None
    except TooFewClasses as error:
        raise UsageError(f"--conditional needs at least two class subfolders in {flag} "
                         f"{error.folder}, found {error.found}; without classes, leave "
                         "--conditional out") from None


def _training_data(config: TrainConfig, run, worker, runs_dir: Path):
    """(folder, images, labels, classes) of --path (or the demo set); a resumed conditional
    run must find the classes it learnt."""
    from gan.data import DEMO_PATH, load_image_set, load_labelled_set
    folder = Path(config.path) if config.path else DEMO_PATH
    if config.path is None:
        print(f"no --path given: training on the bundled demo set ({DEMO_PATH}, Twemoji "
              "faces, CC-BY 4.0)")
    cache = runs_dir / ".cache" if worker.is_chief else None  # the others write nothing there
    with _images_from("--path"):
        if not config.conditional:
            array, skipped = load_image_set(folder, config.img_size, cache, config.channels)
            return folder, _Images(array, skipped), None, []
        array, labels, classes, skipped = load_labelled_set(folder, config.img_size, cache,
                                                            config.channels)
    if run is not None and classes != run.load_classes():
        raise UsageError(f"--path {folder} now has the classes {', '.join(classes)}; run "
                         f"{run.name} learnt {', '.join(run.load_classes())}: restore the "
                         "subfolders or start a new run")
    return folder, _Images(array, skipped), labels, classes


def _announce(config: TrainConfig, run, folder: Path, images: _Images, classes: list[str],
              labels) -> TrainConfig:
    """Print what the run will train on and how; returns the config with the measured
    precision and XLA setting."""
    from gan import distribute
    if classes:
        print(f"conditional: {len(classes)} classes: {_class_counts(classes, labels)}")
    strategy = distribute.resolve(config.distribute)
    # After the run folder exists: a run stopped while measuring can be resumed, like one
    # stopped before its first checkpoint.
    choice = _speed_choice(config, images.array, len(classes), strategy)
    settings = BALANCE_RULES[config.balance].describe(config)
    print(f"run {run.folder}: {len(images.array)} images of {config.img_size}x"
          f"{config.img_size} from {folder}; model {config.model}, arch {config.arch}; "
          f"balance {config.balance}"
          + (f" ({settings})" if settings else "")
          + f"; loss {config.loss}" + (f", R1 {config.r1_gamma:g}" if config.r1_gamma else "")
          + f"; width {config.width}, batch {config.batch_size}; "
          + (f"EMA of G ({config.ema_kimg:g} kimg)" if config.ema_kimg else "no EMA")
          + (f"; DiffAugment {config.augment}" if config.augment_policy() else "")
          + (f" (adaptive, target {config.ada_target:g})" if config.augment_policy()
             and config.ada_target else "")
          + f"; {choice.label}" + (f" ({choice.reason})" if choice.reason else "")
          + f"; strategy {strategy}")
    from gan.preflight import training_summary
    print(training_summary(folder, images.array, images.skipped)
          + f" (details: {_command('--TYPE', 'check', '--path', folder)})")
    if config.channels == 3 and (images.array == images.array[..., :1]).all():
        print("note: every image is gray; --channels 1 trains on one channel instead of three")
    if len(images.array) < config.batch_size:
        print(f"note: {len(images.array)} images, fewer than --batch_size {config.batch_size}: "
              f"each epoch is one batch of all {len(images.array)}")
    return choice.apply(config)


def _report_outcome(outcome, config: TrainConfig, run, runs_dir: Path) -> None:
    resume_command = _command("--TYPE", "train", "--resume", run.name,
                              *_runs_dir_flag(runs_dir))
    epochs, batches = outcome.epochs, outcome.batches
    done = counted(epochs, "epoch") + (f" and {counted(batches, 'batch', 'batches')}" if batches
                                       else "") + " done"
    if outcome.stopped_by == "signal":
        print(f"stopped by signal with {done} (checkpoint {outcome.checkpoint}); resume "
              f"with: {resume_command}", file=sys.stderr)
    else:  # every epoch, or the --max_minutes budget, done: the run's pictures are made
        from gan.animate import timelapse
        ended = (f"stopped after --max_minutes {config.max_minutes:g} with {done}; "
                 if outcome.stopped_by == "max_minutes" else "done: ")
        print(f"{ended}samples, losses.png, {timelapse(run.folder).name} and checkpoints are in "
              f"{run.folder}; generate with: "
              + _command("--TYPE", "generate", "--run", run.name, *_runs_dir_flag(runs_dir))
              + (f"; train on with: {resume_command}" if outcome.stopped_by else ""))


def _check_worker_names(worker, args, explicit: dict, runs_dir: Path) -> None:
    """Under multiworker every worker must write, or resume, the same run: a numbered name
    or "the latest run" could differ between them, and the others read the chief's run."""
    if worker.count == 1:
        return
    if "resume" in explicit:
        if args.resume == LATEST:
            raise UsageError(f"--resume: with {worker.count} workers give the run's name, the "
                             "same on every worker, e.g. --resume NAME")
        from gan.runs import Run
        if not worker.is_chief and not Run(runs_dir / args.resume).config_file.is_file():
            raise UsageError(f"--resume {args.resume}: {worker.name} resumes from the chief's "
                             f"run folder, and {runs_dir / args.resume} is not there; give every "
                             "worker a --runs_dir that holds the chief's run (a shared folder, "
                             "or a copy of it)")
    elif "name" not in explicit:
        raise UsageError(f"--distribute multiworker with {worker.count} workers: give the new "
                         "run a --name, the same on every worker (a numbered name could differ "
                         "between them)")


def _speed_choice(config: TrainConfig, images, num_classes: int, strategy: str):
    """The precision and XLA setting of a run on `images` (uint8 (N, S, S, C)): measured on
    this CPU where --precision or --xla is auto (gan/autotune.py), else as given. Not under
    a multi-replica strategy, whose workers must agree: there auto is fp32 without XLA."""
    from gan import autotune, hardware
    from gan.data import effective_batch_size, steps_per_epoch
    given = config.precision != "auto" and config.xla is not None
    if strategy != "none" or given:
        return autotune.Choice(hardware.resolve_precision(config.precision),
                               hardware.resolve_xla(config.xla), "" if given else
                               f"auto, not measured with strategy {strategy}")
    return autotune.tune(config, effective_batch_size(len(images), config.batch_size),
                         config.epochs * steps_per_epoch(len(images), config.batch_size),
                         images.shape[-1], num_classes, on_measure=_announce_measuring)


def _announce_measuring(settings: list[tuple[str, bool]]) -> None:
    from gan.autotune import setting_name
    names = ", ".join(setting_name(*s) for s in settings)
    print(f"measuring the training step in {names} on this CPU (once per network shape, then "
          "cached) ...", flush=True)


def _runs_dir_flag(runs_dir: Path) -> tuple:
    """`--runs_dir` and its value for a suggested command, or nothing for the default."""
    return () if Path(runs_dir) == Path(RUNS_DIR) else ("--runs_dir", runs_dir)


def _command(*args) -> str:
    """`python train.py ARGS` as a line that pastes into a shell, whatever the paths hold."""
    return shlex.join(["python", "train.py", *(printable(str(a)) for a in args)])


def _find_run(args, explicit: dict, flag: str = "--run"):
    """The run `flag` (--run or --resume) names in --runs_dir, or the latest."""
    from gan.errors import RunNotFound
    from gan.runs import Run
    name = getattr(args, flag.lstrip("-")) if flag.lstrip("-") in explicit else None
    try:
        return Run.find(Path(args.runs_dir), None if name == LATEST else name)
    except RunNotFound as error:
        raise UsageError(_run_not_found(error, flag)) from None


def _resumable_state(run) -> dict | None:
    """The state of the checkpoint `--resume` would continue from (the latest readable one);
    None when the run stopped before its first checkpoint and shows no progress. Raises
    UsageError when it has trained but no checkpoint is left to continue from, so that
    resuming never starts it over."""
    from gan.files import read_json

    store = run.checkpoint_store()
    names = store.readable()
    if names:
        latest = store.index()["latest"]
        name = latest if latest in names else names[0]
        return read_json(store.folder / name / "state.json", "")
    from gan.losslog import read_loss_rows
    shown = [what for what, present in (
        ("checkpoints/", (store.folder / "index.json").exists()
         or any(store.folder.glob("epoch_*"))),
        ("losses.csv rows", bool(read_loss_rows(run.losses_csv))),
        ("sample grids", any(p.name != "epoch_0000.png"
                             for p in run.samples.glob("*.png"))))
        if present]
    if not shown:
        return None
    missing = "its checkpoints/ folder is gone" if not run.checkpoints.is_dir() \
        else "checkpoints/ holds no complete, readable checkpoint"
    raise UsageError(f"cannot resume run {printable(run.name)}: it has trained (its "
                     f"{' and '.join(shown)} show it) but {missing}; nothing was changed. "
                     "Restore checkpoints/ from a copy, or train from scratch as a new run "
                     f"with --name {shlex.quote(printable(run.name) + '-again')} and the "
                     "run's other flags")


def _check_more_epochs(run, config: TrainConfig, state: dict) -> None:
    done = state.get("progress", {}).get("epoch", 0)
    if config.epochs <= done:
        raise UsageError(f"run {run.name} has already trained {done} epochs; give "
                         f"--epochs larger than {done} to continue it")


def _resumed_config(run, config_flags: dict) -> TrainConfig:
    saved = run.load_config()
    for name, value in config_flags.items():
        if name not in EXTENDABLE and getattr(saved, name) != value:
            raise UsageError(f"--{name} {value} conflicts with the resumed run's saved value "
                             f"{getattr(saved, name)}; drop the flag, or start a new run")
    return dataclasses.replace(saved, **{k: v for k, v in config_flags.items()
                                         if k in EXTENDABLE})


def run_generate(args, explicit: dict) -> int:
    _check_truncation(args.truncation)
    if "seeds" in explicit:
        for flag in ("img_num", "seed"):
            if flag in explicit:
                raise UsageError(f"give --seeds or --{flag}, not both")
        seeds, names = parse_seeds(args.seeds), "seed"
        described = f"seeds {args.seeds}"
    else:
        if args.img_num <= 0:
            raise UsageError(f"--img_num must be > 0, got {args.img_num}: give how many images to "
                              "generate, e.g. --img_num 16")
        first = args.seed if "seed" in explicit else random.randrange(2 ** 31)
        seeds, names = list(range(first, first + args.img_num)), "img"
        described = f"seed {first} (seeds {first}-{first + args.img_num - 1})"
    run = _find_run(args, explicit)
    out = Path(args.out) if "out" in explicit else None

    from gan.generate import generate
    folder, count = generate(run.folder, args.checkpoint, seeds, out, names, args.truncation,
                             args.label)
    print(f"wrote {counted(count, 'image')} and grid.png to {folder} (run {run.name}, "
          f"checkpoint {args.checkpoint}, {described}"
          + (f", truncation {args.truncation:g}" if args.truncation != 1 else "") + ")")
    return 0


def _class_counts(classes: list[str], labels) -> str:
    """'cats (3), dogs (2)': each class with its number of images."""
    return ", ".join(f"{name} ({(labels == k).sum()})" for k, name in enumerate(classes))


def _check_truncation(psi: float) -> None:
    if not 0 < psi <= 1:
        raise UsageError(f"--truncation must be in (0, 1], got {psi}")


def run_interpolate(args, explicit: dict) -> int:
    if ("seeds" in explicit) == ("images" in explicit):
        raise UsageError("--TYPE interpolate needs --seeds or --images, one of them: e.g. "
                         "--seeds 1,7,3, or --images a.jpg,b.jpg for photos")
    run = _find_run(args, explicit)
    if "images" in explicit:
        _reject(explicit, ("truncation",), "interpolate --images")
        keys, photos = _read_photos(args, run)
        kind, listed = "photos", ", ".join(printable(f.name) for f in keys)
    else:
        _reject(explicit, ("steps",), "interpolate --seeds")
        keys, kind, listed = parse_seeds(args.seeds), "seeds", args.seeds
        _check_truncation(args.truncation)
    if len(keys) < 2:
        raise UsageError("--TYPE interpolate needs at least two different seeds or photos, "
                         "e.g. --seeds 1,7,3 or --images a.jpg,b.jpg")
    if args.frames < len(keys):
        raise UsageError(f"--frames must be at least the number of {kind} ({len(keys)}), "
                         f"got {args.frames}")
    from gan.generate import check_new_output, load_generator
    out = Path(args.out) if "out" in explicit else None
    check_new_output(out)
    from gan.animate import interpolate
    generator = load_generator(run.folder, args.checkpoint, args.label)
    latents = generator.encode(photos, args.steps) if "images" in explicit \
        else generator.latents(keys, args.truncation)
    gif = interpolate(generator, latents, args.frames, args.loop, out or run.output_dir(),
                      args.label)
    print(f"wrote {gif}, {gif.with_suffix('.mp4').name} ({args.frames} frames through {kind} "
          f"{listed}" + (", looped" if args.loop else "") + ") and keyframes.png")
    return 0


def run_encode(args, explicit: dict) -> int:
    if "images" not in explicit:
        raise UsageError("--TYPE encode needs --images: a folder of photos or a comma-separated "
                         "list of image files")
    run = _find_run(args, explicit)
    files, photos = _read_photos(args, run)
    from gan.generate import check_new_output, load_generator
    out = Path(args.out) if "out" in explicit else None
    check_new_output(out)
    generator = load_generator(run.folder, args.checkpoint)
    from gan.encode import encode_photos
    folder = out or run.output_dir()
    summary = encode_photos(generator, photos, files, args.steps, folder)
    per_image = ", ".join(f"{printable(f.name)} {row['mean_abs_error']:.1f}"
                          for f, row in zip(files, summary["images"]))
    print(f"encoded {len(files)} photos into run {run.name} (checkpoint "
          f"{summary['checkpoint']}, {args.steps} steps): mean reconstruction error "
          f"{summary['mean_abs_error']:.1f} of 255 ({per_image}); wrote latents.npz, "
          f"recon_*.png, grid.png and summary.json to {folder}")
    return 0


def _read_photos(args, run):
    """(files, uint8 (N, S, S, C) photos) of --images at the run's size and channels, after
    checking --steps, which encodes them."""
    from gan.data import image_files, read_images
    from gan.errors import ImageNotRead
    if args.steps <= 0:
        raise UsageError(f"--steps must be > 0, got {args.steps}")
    config = run.load_config()
    try:
        with _images_from("--images"):
            files = image_files(args.images)
        return files, read_images(files, config.img_size, config.channels)
    except ImageNotRead as error:
        raise UsageError(f"--images: {error.path}: " + (
            "no such file or folder" if error.missing else
            "cannot be decoded as an image; remove it or convert it to JPEG or PNG")) from None


def run_timelapse(args, explicit: dict) -> int:
    run = _find_run(args, explicit)
    from gan.animate import timelapse
    try:
        gif = timelapse(run.folder)
        print(f"wrote {gif} and {gif.with_suffix('.mp4').name}")
    except FileNotFoundError:
        raise UsageError(f"run {run.name} has no sample grids yet; train it first") from None
    return 0


def run_check(args, explicit: dict) -> int:
    from gan.data import DEMO_PATH

    config = TrainConfig.from_flags({k: v for k, v in explicit.items()
                                     if k in {f.name for f in config_module.fields()}})
    config.validate()
    folder = Path(config.path).expanduser() if config.path else DEMO_PATH
    from gan import preflight
    with _images_from("--path"):
        facts = preflight.inspect(folder)
        if not facts["images"]:
            from gan.data import nothing_decodable
            raise nothing_decodable(folder, len(facts["skipped"]))
        classes = []
        if config.conditional:  # the classes training would find, or its one-line refusal
            from gan.data import load_labelled_set
            _, labels, classes, _ = load_labelled_set(folder, config.img_size, None,
                                                      config.channels)
    choice = preflight.measure_speed(config, facts["images"], len(classes),
                                     on_measure=_announce_measuring)
    print(preflight.report(folder, config, facts, choice))
    if classes:
        print(f"  classes: {_class_counts(classes, labels)}")
    return 0


def run_export(args, explicit: dict) -> int:
    if "format" not in explicit:
        raise UsageError("--TYPE export needs --format keras, savedmodel, tflite or onnx")
    run = _find_run(args, explicit)
    from gan.generate import check_new_output, load_generator
    out = Path(args.out) if "out" in explicit else None
    check_new_output(out)
    generator = load_generator(run.folder, args.checkpoint)
    from gan.export import export
    path = export(generator, args.format, out or run.output_dir("exported"))
    print(f"wrote {path} and generator.json (run {run.name}, checkpoint "
          f"{generator.folder.name})")
    return 0


def parse_seeds(text: str) -> list[int]:
    """"0-3,42" -> [0, 1, 2, 3, 42]; UsageError on anything else."""
    seeds = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            seeds += list(range(int(low), int(high) + 1)) if dash else [int(low)]
        except ValueError:
            raise UsageError(f"--seeds {text}: expected numbers and ranges such as "
                             "0-15,42") from None
        if dash and int(high) < int(low):
            raise UsageError(f"--seeds {text}: the range {part.strip()} runs backwards; "
                             f"write {high}-{low}")
    if not seeds or min(seeds) < 0:
        raise UsageError(f"--seeds {text}: give seeds >= 0, e.g. 0-15,42")
    return list(dict.fromkeys(seeds))  # each once, in the order given


def run_evaluate(args, explicit: dict) -> int:
    from gan.errors import TooFewImages

    img_num = args.img_num if "img_num" in explicit else EVALUATE_SAMPLES
    if img_num < 8:
        raise UsageError(f"--img_num must be >= 8 to evaluate, got {img_num}")
    cache = Path(args.runs_dir) / ".cache"
    seed = args.seed if "seed" in explicit else 0
    try:
        return _evaluate(args, explicit, img_num, cache, seed)
    except TooFewImages as error:
        where = ("--images" if error.role == "fake" else
                 "--path" if "path" in explicit else "the run's training images")
        raise UsageError(_too_few(where, error)) from None


def _too_few(where: str, error) -> str:
    if error.distinct:
        return (f"{where}: each of its {error.count} images has an identical copy among them "
                f"({error.why}); remove the copies or give different images")
    return (f"{where} has {counted(error.count, 'image')}; --TYPE evaluate needs "
            f"at least {error.needed} ({error.why}); add images")


def _evaluate(args, explicit: dict, img_num: int, cache: Path, seed: int) -> int:
    import json

    from gan import evaluate, metrics
    from gan.data import DEMO_PATH, load_images
    if "images" in explicit:
        _reject(explicit, ("run", "checkpoint"), "evaluate --images")
        if "path" not in explicit:
            raise UsageError("--images needs --path: the folder of real images to compare with")
        def load(flag: str, folder: str):
            with _images_from(flag):
                return load_images(Path(folder), args.img_size, cache)
        fakes, real = load("--images", args.images), load("--path", args.path)
        train = load("--train", args.train) if "train" in explicit else None
        results = [{"images": args.images,
                    **evaluate.jsonable(metrics.evaluate(real, fakes, train, seed=seed))}]
        labels = [args.images]
    else:
        _reject(explicit, ("train",), "evaluate --run")
        run = _find_run(args, explicit)
        config = run.load_config()
        trained_on = Path(config.path) if config.path else DEMO_PATH
        with _images_from("--path"):  # the run's training images came from its --path
            real = load_images(Path(args.path) if "path" in explicit else trained_on,
                               config.img_size, cache)
            # Against held-out images (--path), the training set gives the memorisation ratio.
            train = load_images(trained_on, config.img_size, cache) if "path" in explicit \
                else None
        names = (evaluate.all_checkpoints(run.folder) if args.checkpoint == "all"
                 else [args.checkpoint])
        results = evaluate.evaluate_checkpoints(run.folder, names, img_num, seed, real, train)
        labels = [f"{run.name}/{r['checkpoint']}" for r in results]
    for label, result in zip(labels, results):
        print(json.dumps(result) if args.json else evaluate.summary_line(label, result))
    return 0
