"""The training step and the training loop.

Each batch: the balance controller decides, from the losses measured on the previous batch,
which networks to update; the matching compiled step computes both losses in one forward pass
and applies only the chosen gradients. There is one compiled step per decision, chosen on the
host, because under tf.distribute `apply_gradients` cannot sit inside a `tf.cond`; each traces
once. D sees both batches through DiffAugment (gan/augment.py) with a probability p that
rises only as D starts to memorise the training set (gan/ada.py, fed by each step's
E[sign D(real)]); with --r1_gamma, each D update also penalises D's gradient at the real
images (R1); an exponential moving average of G's weights (--ema_kimg) is kept for samples,
evaluation and generate.
"""
from __future__ import annotations

import csv
import functools
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from gan import augment, data, hardware, health, images, losses
from gan.ada import AugmentStrength
from gan.balance import Decision, make_controller
from gan.checkpoints import CheckpointStore, checkpoint_name
from gan.config import FORMAT_VERSION, TrainConfig, epochs_for
from gan.errors import TooFewImages, printable
from gan.networks import build_discriminator, build_generator
from gan.runs import warn_if_low_disk
from gan.summaries import TrainingBoard

SAMPLE_GRID = 64  # images in each samples/epoch_NNNN.png (8 x 8)
# losses.png is redrawn at most this often (and at the end): a redraw costs ~0.2 s, as much
# as two training steps of a small network, and epochs of a few hundred images take seconds.
PLOT_SECONDS = 30
fold_in = tf.random.experimental.stateless_fold_in
EMA_RAMPUP = 0.05  # StyleGAN2-ADA's ema_rampup (training/training_loop.py)
CSV_FIELDS = ("epoch", "step", "loss_g", "loss_d", "decision", "d_real", "d_fake", "seconds")


class GAN:
    """Generator, discriminator, their Adam optimizers, and the three compiled steps.

    Built in `strategy`'s scope (default: the single-device strategy). With more than one
    replica, each step runs on every replica's share of the batch and returns losses
    averaged over all replicas, so every replica and worker sees the same two numbers and
    the controller takes the same decision everywhere.
    """

    def __init__(self, config: TrainConfig, channels: int = 3, strategy=None,
                 num_classes: int = 0):
        keras.utils.set_random_seed(config.seed)
        self.config = config
        self.precision = hardware.apply_precision(config.precision)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.num_classes = num_classes  # 0: unconditional
        with self.strategy.scope():
            self.generator = build_generator(config.latent_dim, config.img_size, config.width,
                                             channels, num_classes)
            self.discriminator = build_discriminator(config.img_size, config.width,
                                                     config.dropout, channels, num_classes)
            self.g_optimizer = keras.optimizers.Adam(config.lr_g, beta_1=config.beta1,
                                                     beta_2=config.beta2)
            self.d_optimizer = keras.optimizers.Adam(config.lr_d, beta_1=config.beta1,
                                                     beta_2=config.beta2)
            # Built now so that a checkpoint restores into existing slots.
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.generator_ema = None
            if config.ema_kimg:
                self.generator_ema = build_generator(config.latent_dim, config.img_size,
                                                     config.width, channels, num_classes)
                self.generator_ema.set_weights(self.generator.get_weights())
        self.traces = 0  # how many times a step was traced (a test checks it stays at 3)
        self._steps = {decision: self._compile(decision, channels) for decision in Decision}

    def _compile(self, decision: Decision, channels: int):
        step = functools.partial(self.train_step, update_g=decision.updates_g,
                                 update_d=decision.updates_d)
        if self.replicas == 1:
            size = self.config.img_size
            signature = [tf.TensorSpec([None, size, size, channels], tf.float32),
                         tf.TensorSpec([None, self.config.latent_dim], tf.float32),
                         tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.float32)]
            if self.num_classes:
                signature.append(tf.TensorSpec([None], tf.int32))
            return tf.function(step, input_signature=signature,
                               jit_compile=hardware.resolve_xla(self.config.xla))

        def distributed(*args):  # real, latents, step_index, augment_p[, labels]
            per_replica = self.strategy.run(step, args=args)
            return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)
        return tf.function(distributed)

    def trackables(self) -> dict:
        """What a checkpoint holds, by name."""
        nets = {"generator": self.generator, "discriminator": self.discriminator,
                "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}
        if self.generator_ema is not None:
            nets["generator_ema"] = self.generator_ema
        return nets

    def step(self, real, latents, decision: Decision, step_index: int = 0,
             labels=None, augment_p: float = 1.0) -> np.ndarray:
        """One compiled step on a batch: real float32 (B, S, S, C) in [-1, 1] and latents
        float32 (B, latent_dim) (per-replica values under a multi-replica strategy);
        `step_index` (the run's batch count) seeds the batch's augmentation and penalty;
        `labels`, int32 (B,), the classes of a conditional GAN (None otherwise); with
        --augment, `augment_p` is the probability of each augmentation (gan/ada.py).

        Returns float32 [loss_g, loss_d, d_real, d_fake, real_sign]: the losses the
        controller compares (gan/losses.py), mean sigmoid(D(x)) on real and fake images and
        ADA's r_t = mean sign(D(x)) on real ones, measured in the forward pass before this
        step's update, averaged over replicas. With --ema_kimg, also moves the EMA generator
        toward G.
        """
        args = (real, latents, np.int64(step_index), np.float32(augment_p)) + (
            () if labels is None else (labels,))
        out = self._steps[decision](*args).numpy()
        if self.generator_ema is not None:
            self._update_ema(np.float32(self.ema_beta(step_index)))
        return out

    def ema_beta(self, step_index: int) -> float:
        """Weight kept by the EMA after batch `step_index` (0-based), StyleGAN2-ADA's rule:
        half-life --ema_kimg thousand images, but at most 5% of the images seen so far, so
        the average forgets the random start quickly."""
        seen = (step_index + 1) * self.config.batch_size
        half_life = min(1000 * self.config.ema_kimg, EMA_RAMPUP * seen)
        return 0.5 ** (self.config.batch_size / half_life)

    @tf.function
    def _update_ema(self, beta):
        # All weights, BatchNorm's running statistics included, so the EMA generator's
        # statistics follow its own weights' history.
        for average, weight in zip(self.generator_ema.weights, self.generator.weights):
            average.assign(beta * average + (1.0 - beta) * weight)

    def train_step(self, real, latents, step_index, augment_p, labels=None, *, update_g: bool,
                   update_d: bool):
        self.traces += 1  # Python side effect: runs at trace time only
        config, seed = self.config, self._batch_seed(step_index)

        def discriminate(images):
            inputs = images if labels is None else [images, labels]
            return self.discriminator(inputs, training=True)

        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(latents if labels is None else [latents, labels],
                                  training=True)
            if config.augment_policy():
                real, fake = augment.augment_pair(real, fake, config.augment_policy(), seed,
                                                  augment_p)
            with tf.GradientTape(watch_accessed_variables=False) as input_tape:
                input_tape.watch(real)  # for R1: D's gradient at the real images
                real_logits = discriminate(real)
            fake_logits = discriminate(fake)
            loss_g, loss_d = losses.adversarial_losses(config.loss, real_logits, fake_logits,
                                                       config.label_smoothing)
            penalty = 0.0  # R1 is not part of the loss_D the controller compares
            if config.r1_gamma and update_d:
                penalty = 0.5 * config.r1_gamma * losses.r1_penalty(input_tape, real_logits,
                                                                    real)
            if config.loss == "wgan-gp":
                mix = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1], seed)
                loss_d += config.gp_weight * losses.gradient_penalty(discriminate, real, fake,
                                                                     mix)
            # Optimizers sum gradients over replicas: scale so the sum is the global mean.
            scaled_d, scaled_g = (loss_d + penalty) / self.replicas, loss_g / self.replicas
        if update_d:
            variables = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(tape.gradient(scaled_d, variables), variables))
        if update_g:
            variables = self.generator.trainable_variables
            self.g_optimizer.apply_gradients(zip(tape.gradient(scaled_g, variables), variables))
        del tape
        if config.loss == "hinge":  # the controllers compare nats (gan/losses.py)
            loss_g, loss_d = losses.bce_losses(real_logits, fake_logits)
        return tf.stack([loss_g, loss_d, tf.reduce_mean(tf.sigmoid(real_logits)),
                         tf.reduce_mean(tf.sigmoid(fake_logits)),
                         tf.reduce_mean(tf.sign(real_logits))])

    def _batch_seed(self, step_index):
        """Seed (2,) of this batch's random numbers on this replica: the same after resume."""
        seed = tf.stack([tf.constant(self.config.seed, tf.int64), step_index])
        return fold_in(seed, tf.distribute.get_replica_context().replica_id_in_sync_group)

    def learning_rates(self) -> tuple[float, float]:
        """The optimizers' current learning rates (G, D)."""
        return float(self.g_optimizer.learning_rate), float(self.d_optimizer.learning_rate)

    def scale_learning_rates(self, factor: float) -> None:
        for optimizer in (self.g_optimizer, self.d_optimizer):
            optimizer.learning_rate.assign(optimizer.learning_rate * factor)

    def is_finite(self) -> bool:
        """Whether every weight of G and D is finite."""
        return all(bool(tf.reduce_all(tf.math.is_finite(v)))
                   for v in self.generator.weights + self.discriminator.weights)

    def sample(self, latents: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, C) images from latents (N, latent_dim), BatchNorm in inference mode,
        from the EMA generator when there is one; a conditional GAN draws its classes in
        turn, a row of 8 each (images.grid_labels)."""
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        inputs = latents if not self.num_classes else \
            [latents, images.grid_labels(len(latents), self.num_classes)]
        return images.to_uint8(generator(inputs, training=False))


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint's state.json."""
    epoch: int = 0          # epochs completed
    batch: int = 0          # batches completed in the current epoch
    step: int = 0           # batches completed in all
    seconds: float = 0.0    # training time in all, over every session of this run


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


MAX_ROLLBACKS = 3
# The latest checkpoint, which a kill -9 falls back to, is saved about this often in images
# (and at every other epoch-end job and every stop): every epoch cost 10% of the wall clock
# on a few hundred images.
LATEST_EVERY_IMAGES = 2_000


class TrainingDiverged(RuntimeError):
    """The losses became non-finite again after MAX_ROLLBACKS rollbacks."""


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
    from gan.distribute import make_strategy
    gan = GAN(config, channels=images_uint8.shape[-1], strategy=make_strategy(config.distribute),
              num_classes=num_classes)
    controller = make_controller(config)
    strength = AugmentStrength(bool(config.augment_policy()) and config.ada_target > 0,
                               config.ada_target, config.ada_kimg, config.batch_size)
    write_dir = write_dir or run_dir
    chief = write_dir == run_dir  # writes the run's files, scores and logs to TensorBoard
    store = CheckpointStore(write_dir / "checkpoints", **gan.trackables())
    # Another worker resumes from the chief's checkpoints; once it has saved, its own copy
    # holds the same weights (every worker saves at the same steps).
    source = store if chief else CheckpointStore(run_dir / "checkpoints", **gan.trackables())
    weights = gan.generator.count_params() + gan.discriminator.count_params()
    warn_if_low_disk(write_dir, needed_bytes=3 * (3 * 4 * weights))  # 3 checkpoints, Adam's 2 slots
    progress = Progress()
    last = (None, None)  # losses of the previous batch, the controller's input
    saved_step = -1      # the step of the latest checkpoint

    def save(keep: bool = False) -> str:
        nonlocal saved_step, source
        if not gan.is_finite():
            raise TrainingDiverged("refusing to save non-finite weights")
        state = {"format_version": FORMAT_VERSION, "config": asdict(config),
                 "progress": asdict(progress), "controller": controller.state_dict(),
                 "augment_strength": strength.state_dict(),
                 "last_losses": last, "num_images": len(images_uint8),
                 "strategy": type(gan.strategy).__name__, "replicas": gan.replicas}
        name = checkpoint_name(progress.epoch, progress.batch)
        store.save(name, state, keep)
        saved_step, source = progress.step, store
        return name

    def restore_latest() -> None:
        nonlocal progress, last, saved_step
        _, state = source.restore_latest()
        progress = Progress(**state["progress"])
        saved_step = progress.step
        controller.load_state_dict(state["controller"])
        if "augment_strength" in state:  # absent in checkpoints of older versions
            strength.load_state_dict(state["augment_strength"])
        last = tuple(state["last_losses"])
        if state["num_images"] != len(images_uint8):
            print(f"warning: the run was trained on {state['num_images']} images, the folder "
                  f"now holds {len(images_uint8)}; the data order will differ", file=sys.stderr)

    if resume:
        restore_latest()
        print(f"resuming at epoch {progress.epoch + 1}, batch {progress.batch} (step "
              f"{progress.step}, {progress.seconds / 60:.1f} minutes of training steps so far)")
        # Only now that its checkpoint was read: a refused resume changes nothing.
        if chief:
            config.save(run_dir / "config.json")  # its extended --epochs / --max_minutes
    else:
        save()  # a starting point to roll back to
    log = LossLog(write_dir / "losses.csv", keep_steps=progress.step)
    samples_dir = write_dir / "samples"
    samples_dir.mkdir(exist_ok=True)
    fixed_latents = np.random.default_rng(config.seed).standard_normal(
        (SAMPLE_GRID, config.latent_dim)).astype(np.float32)
    board = TrainingBoard(write_dir, enabled=chief)

    def write_samples(name: str) -> None:
        grid = images.make_grid(gan.sample(fixed_latents), cols=8)
        images.write_png(samples_dir / f"{name}.png", grid)
        board.samples(progress.step, grid)

    if progress.step == 0:
        write_samples("epoch_0000")

    every = {job: config.every(job, len(images_uint8))
             for job in ("sample_every", "save_every", "eval_every")}
    latest_every = epochs_for(LATEST_EVERY_IMAGES, len(images_uint8))
    evaluation = None
    if every["eval_every"] and chief:
        from gan.evaluate import TrainingEvaluation
        try:
            evaluation = TrainingEvaluation(run_dir, store, images_uint8, config)
        except TooFewImages as error:
            print(f"warning: training goes on without evaluations ({error})", file=sys.stderr)
    dataset_images = tf.constant(images_uint8)
    dataset_labels = None if labels is None else tf.constant(labels, tf.int32)
    steps_per_epoch = data.steps_per_epoch(len(images_uint8), config.batch_size)
    deadline = time.monotonic() + 60 * config.max_minutes if config.max_minutes else math.inf
    rollbacks, rolled_back, last_plot = 0, False, -math.inf
    prepared: set[Decision] = set()  # the step variants traced so far
    preparing = "tracing and XLA-compiling" if hardware.resolve_xla(config.xla) else "tracing"
    grid_step = progress.step  # the step of the latest sample grid
    health_from = progress.epoch + 1  # the first epoch the next health row covers
    with StopRequest() as stop:
        while progress.epoch < config.epochs:
            epoch = progress.epoch + 1  # 1-based for people
            batches = data.epoch_dataset(dataset_images, config.batch_size, config.latent_dim,
                                         config.seed, progress.epoch, config.flip,
                                         progress.batch, dataset_labels)
            if gan.replicas > 1:
                batches = gan.strategy.experimental_distribute_dataset(batches)
            bar = tqdm(batches, total=steps_per_epoch, initial=progress.batch,
                       desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=True,
                       dynamic_ncols=True)
            diverged = False
            for real, latents, *batch_labels in bar:
                started = time.perf_counter()
                decision = controller.decide(*last)
                if decision not in prepared:  # else the bar looks frozen for up to ~40 s
                    prepared.add(decision)
                    tqdm.write(f"preparing the {decision.description} step ({preparing}; "
                               "once per run) ...")
                loss_g, loss_d, d_real, d_fake, real_sign = gan.step(
                    real, latents, decision, progress.step, *batch_labels,
                    augment_p=strength.p)
                if not np.isfinite([loss_g, loss_d]).all():
                    diverged = True
                    break
                last = (float(loss_g), float(loss_d))
                strength.update(float(real_sign))
                progress.batch += 1
                progress.step += 1
                progress.seconds += time.perf_counter() - started
                log.append(epoch, progress.step, last[0], last[1], decision.value,
                           float(d_real), float(d_fake), progress.seconds)
                bar.set_postfix_str(log.epoch_summary(epoch), refresh=False)
                if stop.signum is not None or time.monotonic() > deadline:
                    break
            bar.close()
            log.flush()
            if diverged:
                rollbacks += 1
                if rollbacks > MAX_ROLLBACKS:
                    raise TrainingDiverged(
                        f"losses became non-finite again at step {progress.step + 1} after "
                        f"{MAX_ROLLBACKS} rollbacks; try lower --lr_g/--lr_d")
                failed_step = progress.step + 1
                restore_latest()
                gan.scale_learning_rates(0.5)
                log.close()
                log = LossLog(write_dir / "losses.csv", keep_steps=progress.step)
                rolled_back = True
                print(f"warning: non-finite loss at step {failed_step}; rolled back to step "
                      f"{progress.step} and halved the learning rates "
                      f"(rollback {rollbacks} of {MAX_ROLLBACKS})", file=sys.stderr)
                continue
            board.epoch(progress.step, log.stats(range(epoch, epoch + 1)), gan.learning_rates(),
                        strength.p if config.augment_policy() else None)
            if progress.batch >= steps_per_epoch:  # the epoch finished
                progress.epoch, progress.batch = epoch, 0
                finished = epoch == config.epochs
                due = {job: n > 0 and (finished or epoch % n == 0) for job, n in every.items()}
                if any(due.values()) or epoch % latest_every == 0:
                    name = save(keep=due["save_every"])
                if evaluation and due["eval_every"]:
                    tqdm.write(evaluation(epoch, progress.step, name, gan.sample))
                    board.evaluation(progress.step, evaluation.last)
                if due["sample_every"]:
                    write_samples(f"epoch_{epoch:04d}")
                    grid_step = progress.step
                    tqdm.write(_health(write_dir, config, epoch, progress.step,
                                       log.stats(range(health_from, epoch + 1)), evaluation,
                                       rolled_back, strength))
                    rolled_back, health_from = False, epoch + 1
                if time.monotonic() - last_plot >= PLOT_SECONDS:
                    log.plot(write_dir / "losses.png", evaluation.history if evaluation else [])
                    last_plot = time.monotonic()
            if stop.signum is not None or time.monotonic() > deadline:
                break

    if progress.step != saved_step:  # stopped between saves
        save(keep=True)
    name = checkpoint_name(progress.epoch, progress.batch)
    if progress.step != grid_step:  # a short run's only grid would be the untrained one
        write_samples(name)
    board.close()
    if log.rows:
        log.plot(write_dir / "losses.png", evaluation.history if evaluation else [])
    log.close()
    stopped_by = "signal" if stop.signum is not None else \
        "max_minutes" if progress.epoch < config.epochs else None
    return Outcome(stop.exit_code, stopped_by, name, progress.epoch, progress.batch)


def _health(run_dir: Path, config: TrainConfig, epoch: int, step: int, stats: "EpochStats",
            evaluation, rolled_back: bool, strength: AugmentStrength) -> str:
    """Assess the batches of `stats` (gan.health), append the result to health.jsonl, return
    the line to print."""
    last = evaluation.last if evaluation else {}
    status, sentence = health.assess(stats.counts, stats.loss_g_sum / stats.batches,
                                     stats.loss_d_sum / stats.batches, last.get("collapse"),
                                     last.get("diversity"), rolled_back, config.balance,
                                     config.loss)
    return health.record(run_dir / "health.jsonl", epoch, step, status, sentence,
                         strength.p if strength.adaptive else None)


@dataclass
class EpochStats:
    """Running totals of one epoch's batches, for the progress bar and the health report."""
    counts: dict = field(default_factory=lambda: {d.value: 0 for d in Decision})
    gap_sum: float = 0.0     # sum of |loss_G - loss_D|
    loss_g_sum: float = 0.0
    loss_d_sum: float = 0.0
    loss_g: float = 0.0      # the last batch's
    loss_d: float = 0.0

    @property
    def batches(self) -> int:
        return sum(self.counts.values())

    def __add__(self, later: "EpochStats") -> "EpochStats":
        """The totals of both; the last batch's losses are `later`'s."""
        return EpochStats({k: n + later.counts[k] for k, n in self.counts.items()},
                          self.gap_sum + later.gap_sum, self.loss_g_sum + later.loss_g_sum,
                          self.loss_d_sum + later.loss_d_sum, later.loss_g, later.loss_d)


def read_loss_rows(path: Path) -> list[dict]:
    """The rows of losses.csv ([] when it does not exist), "epoch" and "step" as int; damaged
    rows are left out with one warning that counts them."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        text = f.read().replace("\0", "")
    lines = text.splitlines()
    # A header that is not ours, and a last row without its newline (cut short), are damaged.
    cut = len(lines) > 1 and not text.endswith("\n")
    rows, damaged = [], int(bool(lines) and lines[0].split(",") != list(CSV_FIELDS)) + cut
    if cut:
        lines.pop()
    for row in csv.DictReader(lines[1:], fieldnames=CSV_FIELDS):
        try:
            row["epoch"], row["step"] = int(row["epoch"]), int(row["step"])
            float(row["loss_g"]), float(row["loss_d"]), float(row["seconds"])
            Decision(row["decision"])
            if None in row or None in row.values():
                raise ValueError("wrong number of fields")
        except (TypeError, ValueError):
            damaged += 1
            continue
        rows.append(row)
    if damaged:
        print(f"warning: {printable(str(path))}: {damaged} damaged rows left out of the loss "
              "history", file=sys.stderr)
    return rows


class LossLog:
    """losses.csv, one row per batch, plus the in-memory history the plot is drawn from.

    On resume, rows after the checkpoint's step (work lost since it was saved) are dropped,
    and damaged rows (a crash cuts the last one) are left out with a warning.
    """

    def __init__(self, path: Path, keep_steps: int):
        self.rows = [r for r in read_loss_rows(path) if r["step"] <= keep_steps]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=CSV_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(self.rows)
        self.file.flush()
        self._epoch_stats: dict[int, EpochStats] = {}
        for r in self.rows:
            self._count(r["epoch"], r["decision"], float(r["loss_g"]), float(r["loss_d"]))

    def append(self, epoch: int, step: int, loss_g: float, loss_d: float, decision: str,
               d_real: float, d_fake: float, seconds: float) -> None:
        row = {"epoch": epoch, "step": step, "loss_g": f"{loss_g:.5f}",
               "loss_d": f"{loss_d:.5f}", "decision": decision, "d_real": f"{d_real:.4f}",
               "d_fake": f"{d_fake:.4f}", "seconds": f"{seconds:.3f}"}
        self.rows.append(row)
        self.writer.writerow(row)
        self._count(epoch, decision, loss_g, loss_d)

    def _count(self, epoch: int, decision: str, loss_g: float, loss_d: float) -> None:
        stats = self._epoch_stats.setdefault(epoch, EpochStats())
        stats.counts[decision] += 1
        stats.gap_sum += abs(loss_g - loss_d)
        stats.loss_g_sum += loss_g
        stats.loss_d_sum += loss_d
        stats.loss_g, stats.loss_d = loss_g, loss_d

    def epoch_summary(self, epoch: int) -> str:
        """Last losses, the decision counts and the mean |loss_G - loss_D| of `epoch`."""
        stats = self._epoch_stats[epoch]
        return (f"loss_G {stats.loss_g:.3f} loss_D {stats.loss_d:.3f} | both "
                f"{stats.counts['both']} G-only {stats.counts['g_only']} D-only "
                f"{stats.counts['d_only']} | mean|gap| {stats.gap_sum / stats.batches:.3f}")

    def stats(self, epochs: range) -> EpochStats:
        """The totals over `epochs` (those with batches logged)."""
        return sum((self._epoch_stats[e] for e in epochs if e in self._epoch_stats),
                   EpochStats())

    def plot(self, path: Path, kd_points: list[tuple[int, float]]) -> None:
        """Redraw losses.png; `kd_points` are (step, KD) pairs from evaluations."""
        history = {key: [r[key] for r in self.rows] for key in ("loss_g", "loss_d", "decision")}
        ends = [i + 1 for i in range(len(self.rows) - 1)
                if self.rows[i]["epoch"] != self.rows[i + 1]["epoch"]] + [len(self.rows)]
        images.plot_losses(history, path, ends, kd_points)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()
