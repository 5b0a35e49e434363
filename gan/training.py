"""The training loop: a Trainer (the GAN, its state and the data) and the run's files.

`Trainer.train_batch` is the algorithm for one batch: the balance controller decides from
the previous batch's losses which networks to update, the GAN takes that step (gan/model.py),
and the state records the losses, the augmentation strength and the progress. `train` runs
it epoch after epoch and does the epoch-end jobs of a `Schedule` through a `RunWriter`:
checkpoints, KD checks, sample grids, health rows, the loss plot and TensorBoard.
"""
from __future__ import annotations

import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from gan import data, hardware, health, images
from gan.ada import AugmentStrength
from gan.balance import Decision, make_controller
from gan.checkpoints import checkpoint_name
from gan.config import FORMAT_VERSION, TrainConfig, epochs_for
from gan.errors import TooFewImages, counted
from gan.losslog import LossLog
from gan.models import MODELS
from gan.runs import Run, warn_if_low_disk
from gan.summaries import TrainingBoard

SAMPLE_GRID = 64  # images in each samples/epoch_NNNN.png (8 x 8)
# losses.png is redrawn at most this often (and at the end): a redraw costs ~0.2 s, as much
# as two training steps of a small network, and epochs of a few hundred images take seconds.
PLOT_SECONDS = 30
MAX_ROLLBACKS = 3
# The latest checkpoint, which a kill -9 falls back to, is saved about this often in images
# (and at every other epoch-end job and every stop): every epoch cost 10% of the wall clock
# on a few hundred images.
LATEST_EVERY_IMAGES = 2_000


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint's state.json."""
    epoch: int = 0          # epochs completed
    batch: int = 0          # batches completed in the current epoch
    step: int = 0           # batches completed in all
    seconds: float = 0.0    # training time in all, over every session of this run


class TrainingState:
    """Everything a checkpoint holds besides the weights, so that a resumed run continues
    exactly: progress, the balance controller, the augmentation strength, and the losses of
    the last batch (the controller's next input)."""

    def __init__(self, config: TrainConfig):
        self.progress = Progress()
        self.controller = make_controller(config)
        self.strength = AugmentStrength(bool(config.augment_policy()) and config.ada_target > 0,
                                        config.ada_target, config.ada_kimg, config.batch_size)
        self.last_losses: tuple[float | None, float | None] = (None, None)

    def state_dict(self) -> dict:
        return {"progress": asdict(self.progress), "controller": self.controller.state_dict(),
                "augment_strength": self.strength.state_dict(),
                "last_losses": list(self.last_losses)}

    def load_state_dict(self, state: dict) -> None:
        vars(self.progress).update(state["progress"])  # in place: the loop holds it
        self.controller.load_state_dict(state["controller"])
        if "augment_strength" in state:  # absent in checkpoints of older versions
            self.strength.load_state_dict(state["augment_strength"])
        self.last_losses = tuple(state["last_losses"])


@dataclass
class BatchResult:
    """One batch's decision and what the step measured before its update."""
    decision: Decision
    loss_g: float
    loss_d: float
    d_real: float  # mean sigmoid(D(x)) on the real images
    d_fake: float  # and on the fakes


class Trainer:
    """A GAN, its TrainingState and its training set: decide -> step -> record, per batch.

    `images_uint8` is the training set, uint8 (N, S, S, C); for a conditional GAN `labels`
    gives their classes, int32 (N,) in [0, num_classes). The benchmarks and `train` both
    drive `train_batch`, so a timing measures what training does.
    """

    def __init__(self, config: TrainConfig, images_uint8: np.ndarray,
                 labels: np.ndarray | None = None, num_classes: int = 0, strategy=None):
        from gan.distribute import make_strategy
        self.config = config
        self.gan = MODELS[config.model].build(config, images_uint8.shape[-1],
                                              strategy or make_strategy(config.distribute),
                                              num_classes)
        self.state = TrainingState(config)
        self.num_images = len(images_uint8)
        self.steps_per_epoch = data.steps_per_epoch(self.num_images, config.batch_size)
        self._images = tf.constant(images_uint8)
        self._labels = None if labels is None else tf.constant(labels, tf.int32)
        self.on_first_use = None  # called with each Decision the first time it is taken
        self._used: set[Decision] = set()

    def epoch_batches(self):
        """The batches left in the current epoch: (real, latents[, labels]) tuples, each
        replica's share under a multi-replica strategy (gan.data.epoch_dataset)."""
        progress = self.state.progress
        batches = data.epoch_dataset(self._images, self.config.batch_size,
                                     self.config.latent_dim, self.config.seed, progress.epoch,
                                     self.config.flip, progress.batch, self._labels)
        if self.gan.replicas > 1:
            batches = self.gan.strategy.experimental_distribute_dataset(batches)
        return batches

    def train_batch(self, real, latents, labels=None) -> BatchResult | None:
        """Decide, step and record one batch; None (nothing recorded) when a loss is not
        finite."""
        state, started = self.state, time.perf_counter()
        decision = state.controller.decide(*state.last_losses)
        if decision not in self._used:
            self._used.add(decision)
            if self.on_first_use:
                self.on_first_use(decision)
        loss_g, loss_d, d_real, d_fake, real_sign = self.gan.step(
            real, latents, decision, state.progress.step, labels=labels,
            augment_p=state.strength.p)
        if not np.isfinite([loss_g, loss_d]).all():
            return None
        state.last_losses = (float(loss_g), float(loss_d))
        state.strength.update(float(real_sign))
        state.progress.batch += 1
        state.progress.step += 1
        state.progress.seconds += time.perf_counter() - started
        return BatchResult(decision, float(loss_g), float(loss_d), float(d_real), float(d_fake))

    def epoch_done(self) -> bool:
        """Whether the current epoch's batches are all trained; if so, the next one starts."""
        progress = self.state.progress
        if progress.batch < self.steps_per_epoch:
            return False
        progress.epoch, progress.batch = progress.epoch + 1, 0
        return True

    def state_dict(self) -> dict:
        """The checkpoint's state.json: the TrainingState, the configuration and the facts a
        resume checks."""
        return {"format_version": FORMAT_VERSION, "config": asdict(self.config),
                **self.state.state_dict(), "num_images": self.num_images,
                "strategy": type(self.gan.strategy).__name__, "replicas": self.gan.replicas}

    def load_state_dict(self, state: dict) -> None:
        self.state.load_state_dict(state)
        if state["num_images"] != self.num_images:
            print(f"warning: the run was trained on {state['num_images']} images, the folder "
                  f"now holds {self.num_images}; the data order will differ", file=sys.stderr)


class StopRequest:
    """SIGINT/SIGTERM: the first finishes the current step and stops cleanly; a second Ctrl-C
    raises KeyboardInterrupt at once (checkpoints are written atomically, so nothing breaks).
    """

    EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self):
        self.signum: int | None = None
        self._previous = {}

    def __enter__(self):
        for signum in self.EXIT_CODES:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        tqdm.write("stopping after this step (press Ctrl-C again to quit at once) ...",
                   file=sys.stderr)

    @property
    def exit_code(self) -> int:
        return self.EXIT_CODES.get(self.signum, 0)


class Schedule:
    """Which epoch-end jobs are due after an epoch: "save" (a kept checkpoint), "eval" (a KD
    check), "sample" (a grid and a health row) every so many epochs (TrainConfig.every), and
    "latest" (the checkpoint a crash falls back to) about every LATEST_EVERY_IMAGES."""

    def __init__(self, config: TrainConfig, num_images: int):
        self.epochs = config.epochs
        self.every = {job: config.every(f"{job}_every", num_images)
                      for job in ("save", "eval", "sample")}
        self.latest_every = epochs_for(LATEST_EVERY_IMAGES, num_images)

    def due(self, epoch: int) -> dict[str, bool]:
        finished = epoch == self.epochs
        due = {job: n > 0 and (finished or epoch % n == 0) for job, n in self.every.items()}
        # Every other job saves the latest checkpoint too (an evaluation names it).
        due["latest"] = any(due.values()) or epoch % self.latest_every == 0
        return due


class TrainingDiverged(RuntimeError):
    """The losses became non-finite again after MAX_ROLLBACKS rollbacks (`step`: the 1-based
    batch whose losses were not), or the weights to be saved are not finite (`step` None)."""

    def __init__(self, step: int | None):
        super().__init__(f"losses became non-finite again at step {step} after "
                         f"{MAX_ROLLBACKS} rollbacks" if step else
                         "refusing to save non-finite weights")
        self.step = step


@dataclass
class Outcome:
    """How `train` ended."""
    exit_code: int          # 0, or 130 / 143 after SIGINT / SIGTERM
    stopped_by: str | None  # None (all epochs done), "signal" or "max_minutes"
    checkpoint: str         # name of the latest checkpoint, holding the final state
    epochs: int             # epochs completed
    batches: int            # batches completed of the next epoch


def train(config: TrainConfig, run_dir: Path, images_uint8: np.ndarray,
          resume: bool = False, labels: np.ndarray | None = None, num_classes: int = 0,
          write_dir: Path | None = None) -> Outcome:
    """Train run `run_dir` until config.epochs, --max_minutes or a signal; returns how it ended.
    A resume writes `config` as the run's config.json once the checkpoint is read.

    `images_uint8` is the training set, uint8 (N, S, S, C); for a conditional GAN `labels`
    gives their classes, int32 (N,) in [0, num_classes). With `resume`, training continues
    from the run's latest checkpoint exactly as if it had never stopped. A non-finite loss
    rolls back to the latest checkpoint and halves both learning rates; raises
    TrainingDiverged after MAX_ROLLBACKS such rollbacks. Every file is written under
    `write_dir` (default `run_dir`): a temporary folder on the workers of a multi-worker run
    other than the chief (gan.distribute.write_dir), which then only read `run_dir`'s
    checkpoints to resume.
    """
    trainer = Trainer(config, images_uint8, labels, num_classes)
    writer = RunWriter(trainer, run_dir, write_dir or run_dir, images_uint8)
    progress = trainer.state.progress
    # -- start: continue from the latest checkpoint, or save a starting point
    if resume:
        writer.restore_latest()
        where = (f"in epoch {progress.epoch + 1} after its first "
                 f"{counted(progress.batch, 'batch', 'batches')}" if progress.batch
                 else f"at epoch {progress.epoch + 1}")
        print(f"resuming {where} (step {progress.step}, {progress.seconds / 60:.1f} minutes "
              "of training steps so far)")
        if writer.chief:  # only now that its checkpoint was read: a refused resume changes nothing
            config.save(Run(run_dir).config_file)  # its extended --epochs / --max_minutes
    else:
        writer.save()  # a starting point to roll back to
    writer.start()
    schedule = Schedule(config, trainer.num_images)
    deadline = time.monotonic() + 60 * config.max_minutes if config.max_minutes else math.inf
    rollbacks = 0
    with StopRequest() as stop:
        stopping = lambda: stop.signum is not None or time.monotonic() > deadline  # noqa: E731
        while progress.epoch < config.epochs:
            # -- one epoch, or what is left of it
            if not writer.train_epoch(stopping):
                rollbacks += 1
                if rollbacks > MAX_ROLLBACKS:
                    raise TrainingDiverged(progress.step + 1)
                writer.roll_back(rollbacks)
                continue
            # -- epoch end: the jobs due
            if trainer.epoch_done():
                writer.epoch_end(progress.epoch, schedule.due(progress.epoch))
            if stopping():
                break
    # -- stop: a checkpoint and a sample grid of the final state
    name = writer.finish()
    stopped_by = "signal" if stop.signum is not None else \
        "max_minutes" if progress.epoch < config.epochs else None
    return Outcome(stop.exit_code, stopped_by, name, progress.epoch, progress.batch)


class RunWriter:
    """A training run's files: checkpoints, losses.csv and losses.png, sample grids, health
    rows, evaluations and TensorBoard. Only the chief (write_dir == run_dir) scores and logs
    to TensorBoard; every worker saves checkpoints, into its own `write_dir`."""

    def __init__(self, trainer: Trainer, run_dir: Path, write_dir: Path,
                 images_uint8: np.ndarray):
        self.trainer, self.config = trainer, trainer.config
        self.run, self.chief = Run(write_dir), write_dir == run_dir
        gan = trainer.gan
        self.store = self.run.checkpoint_store(**gan.trackables())
        # Another worker resumes from the chief's checkpoints; once it has saved, its own copy
        # holds the same weights (every worker saves at the same steps).
        self.source = self.store if self.chief else \
            Run(run_dir).checkpoint_store(**gan.trackables())
        weights = gan.generator.count_params() + gan.discriminator.count_params()
        warn_if_low_disk(write_dir, needed_bytes=3 * (3 * 4 * weights))  # 3 kept, Adam's 2 slots
        self.saved_step = -1  # the step of the latest checkpoint
        self.fixed_latents = np.random.default_rng(self.config.seed).standard_normal(
            (SAMPLE_GRID, self.config.latent_dim)).astype(np.float32)
        self.evaluation = self._evaluation(run_dir, images_uint8)
        self.rolled_back = False  # since the last health row
        self.last_plot = -math.inf
        preparing = "tracing and XLA-compiling" if hardware.resolve_xla(self.config.xla) \
            else "tracing"
        # Else the bar looks frozen for up to ~40 s while a step variant is prepared.
        trainer.on_first_use = lambda decision: tqdm.write(
            f"preparing the {decision.description} step ({preparing}; once per run) ...")

    def _evaluation(self, run_dir: Path, images_uint8: np.ndarray):
        if not (self.config.every("eval_every", len(images_uint8)) and self.chief):
            return None
        from gan.evaluate import TrainingEvaluation
        try:
            return TrainingEvaluation(run_dir, self.store, images_uint8, self.config)
        except TooFewImages as error:
            print(f"warning: training goes on without evaluations ({error})", file=sys.stderr)
            return None

    def start(self) -> None:
        """Open the loss log (dropping rows after the checkpoint's step) and the board; grid
        the untrained generator of a new run."""
        progress = self.trainer.state.progress
        self.log = LossLog(self.run.losses_csv, keep_steps=progress.step)
        self.run.samples.mkdir(exist_ok=True)
        self.board = TrainingBoard(self.run.folder, enabled=self.chief)
        self.grid_step = progress.step  # the step of the latest sample grid
        self.health_from = progress.epoch + 1  # the first epoch the next health row covers
        if progress.step == 0:
            self.write_samples("epoch_0000")

    def train_epoch(self, stopping) -> bool:
        """Train the rest of the current epoch, or until `stopping()`; False when a loss
        became non-finite."""
        trainer, config = self.trainer, self.config
        epoch = trainer.state.progress.epoch + 1  # 1-based for people
        bar = tqdm(trainer.epoch_batches(), total=trainer.steps_per_epoch,
                   initial=trainer.state.progress.batch, desc=f"epoch {epoch}/{config.epochs}",
                   unit="batch", leave=True, dynamic_ncols=True)
        finite = True
        for batch in bar:
            result = trainer.train_batch(*batch)
            if result is None:
                finite = False
                break
            progress = trainer.state.progress
            self.log.append(epoch, progress.step, result.loss_g, result.loss_d,
                            result.decision.value, result.d_real, result.d_fake,
                            progress.seconds)
            bar.set_postfix_str(self.log.epoch_summary(epoch), refresh=False)
            if stopping():
                break
        bar.close()
        self.log.flush()
        if finite:
            strength = trainer.state.strength
            self.board.epoch(trainer.state.progress.step, self.log.stats(range(epoch, epoch + 1)),
                             trainer.gan.learning_rates(),
                             strength.p if config.augment_policy() else None)
        return finite

    def epoch_end(self, epoch: int, due: dict[str, bool]) -> None:
        """The jobs `due` after `epoch` (Schedule.due)."""
        step = self.trainer.state.progress.step
        if due["latest"]:
            name = self.save(keep=due["save"])
        if self.evaluation and due["eval"]:
            tqdm.write(self.evaluation(epoch, step, name, self.trainer.gan.sample))
            self.board.evaluation(step, self.evaluation.last)
        if due["sample"]:
            self.write_samples(f"epoch_{epoch:04d}")
            tqdm.write(self._health(epoch))
        if time.monotonic() - self.last_plot >= PLOT_SECONDS:
            self.plot()

    def save(self, keep: bool = False) -> str:
        """Checkpoint the current state as the latest (and kept, with `keep`); its name."""
        trainer = self.trainer
        if not trainer.gan.is_finite():
            raise TrainingDiverged(None)
        progress = trainer.state.progress
        name = checkpoint_name(progress.epoch, progress.batch)
        self.store.save(name, trainer.state_dict(), keep)
        self.saved_step, self.source = progress.step, self.store
        return name

    def restore_latest(self) -> None:
        _, state = self.source.restore_latest()
        self.trainer.load_state_dict(state)
        self.saved_step = self.trainer.state.progress.step

    def roll_back(self, rollbacks: int) -> None:
        """After a non-finite loss: back to the latest checkpoint, both learning rates
        halved, the loss log cut back to it."""
        failed_step = self.trainer.state.progress.step + 1
        self.restore_latest()
        self.trainer.gan.scale_learning_rates(0.5)
        step = self.trainer.state.progress.step
        self.log.close()
        self.log = LossLog(self.run.losses_csv, keep_steps=step)
        self.rolled_back = True
        print(f"warning: non-finite loss at step {failed_step}; rolled back to step {step} "
              f"and halved the learning rates (rollback {rollbacks} of {MAX_ROLLBACKS})",
              file=sys.stderr)

    def write_samples(self, name: str) -> None:
        grid = images.make_grid(self.trainer.gan.sample(self.fixed_latents), cols=8)
        images.write_png(self.run.sample_grid(name), grid)
        self.grid_step = self.trainer.state.progress.step
        self.board.samples(self.grid_step, grid)

    def _health(self, epoch: int) -> str:
        """Assess the batches since the last row (gan.health), append the result to
        health.jsonl; returns the line to print."""
        stats = self.log.stats(range(self.health_from, epoch + 1))
        last = self.evaluation.last if self.evaluation else {}
        strength = self.trainer.state.strength
        status, sentence = health.assess(stats.counts, stats.loss_g_sum / stats.batches,
                                         stats.loss_d_sum / stats.batches, last.get("collapse"),
                                         last.get("diversity"), self.rolled_back,
                                         self.config.balance, self.config.loss)
        self.rolled_back, self.health_from = False, epoch + 1
        return health.record(self.run.health_log, epoch,
                             self.trainer.state.progress.step, status, sentence,
                             strength.p if strength.adaptive else None)

    def plot(self) -> None:
        self.log.plot(self.run.losses_png,
                      self.evaluation.history if self.evaluation else [])
        self.last_plot = time.monotonic()

    def finish(self) -> str:
        """Save a stop between checkpoints, grid the final state, close the logs; returns the
        name of the latest checkpoint."""
        progress = self.trainer.state.progress
        if progress.step != self.saved_step:  # stopped between saves
            self.save(keep=True)
        name = checkpoint_name(progress.epoch, progress.batch)
        if progress.step != self.grid_step:  # a short run's only grid would be the untrained one
            self.write_samples(name)
        self.board.close()
        if self.log.rows:
            self.plot()
        self.log.close()
        return name
