"""Precision and XLA chosen by timing the training step on this CPU.

No feature-flag rule holds on every CPU: mixed bfloat16 was 1.4x faster than float32 on an
AMD EPYC with AVX512_BF16 and slower on an Intel Xeon with the same flag (90-second runs at
the defaults: 361 batches against 477); XLA was 1.5x faster on an AVX2-only EPYC and
slower on AVX-512 CPUs, whose oneDNN kernels beat it. So, when `--precision` or `--xla` is
auto, each candidate setting runs the real training step (gan.model.GAN.step, G and D,
the run's batch and image size, augmentation at the strength a run starts with) for a few
seconds, taking turns so that a load spike on a shared machine hits every candidate alike,
and the run takes the fastest (`choose`).

A setting pays its first call (tracing and, with XLA, compiling; 30 s on an AVX2 EPYC at the
defaults against 10 s without XLA) once per step variant and run; `choose` counts that
against what it saves over the run's expected length, so XLA is left off in a run too short
to earn its compiling back.

The timings are cached in $GAN_CACHE_DIR/autotune.json (default ~/.cache/dcgan-margin/),
keyed by CPU, core count, TensorFlow version, the ISA caps of oneDNN and XLA, and the network's
shape, so a measurement is paid once, not every run (seconds for a small network; at the
defaults on 2 busy cores a minute or two, mostly XLA's compiling). An unreadable cache is
measured again and rewritten.
"""
from __future__ import annotations

import dataclasses
import datetime
import gc
import json
import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan import hardware
from gan.config import TrainConfig

# Every setting, in order of preference when timings tie: float32 computes exactly, and a
# step without XLA needs no compiling.
SETTINGS = (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))
# Timings closer than this are a tie (run-to-run noise on a shared 2-core machine is ~3%).
TIE = 0.03
# Step variants (G and D, G only, D only) a run prepares, each paying a first call; the
# margin, threshold and ratio balances use all three.
VARIANTS = 3
ROUNDS = 3              # turns each candidate takes
ROUND_SECONDS = 1.0     # timed steps per turn: at least one, until this many seconds ...
ROUND_STEPS = 20        # ... or this many steps (a tiny network's steps take milliseconds)
# The largest share of the step time XLA could save, generously: it measured at best 1.5x
# faster (a third saved), on an AVX2-only EPYC.
XLA_BEST_GAIN = 0.5
SLOW = 1.5              # a candidate this much slower per step after one turn stops there
CACHE_VERSION = 1
# Environment variables that change which kernels run, hence the timings.
_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS",
        "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")


@dataclass(frozen=True)
class Timing:
    """One setting's measurement: seconds of its first call of the G-and-D step (tracing and,
    with XLA, compiling) and median seconds per step after it; both infinite where the step
    failed in this setting (`failed`)."""
    precision: str
    xla: bool
    prepare_seconds: float
    step_seconds: float

    @property
    def name(self) -> str:
        return setting_name(self.precision, self.xla)

    @property
    def failed(self) -> bool:
        """Whether the step raised in this setting (e.g. XLA could not compile it)."""
        return not math.isfinite(self.step_seconds)


def setting_name(precision: str, xla: bool) -> str:
    """'fp32', 'bf16+XLA', ...: a setting's name in the cache and in reports."""
    return precision + ("+XLA" if xla else "")


@dataclass(frozen=True)
class Choice:
    """The setting a run uses, the sentence saying why, and the timings it rests on
    (empty when nothing was measured)."""
    precision: str
    xla: bool
    reason: str
    timings: tuple[Timing, ...] = ()

    def apply(self, config: TrainConfig) -> TrainConfig:
        """`config` with this precision and XLA setting given explicitly."""
        return dataclasses.replace(config, precision=self.precision, xla=self.xla)

    @property
    def label(self) -> str:
        """'fp32' or 'bf16, XLA': the setting as the start-up line names it."""
        return self.precision + (", XLA" if self.xla else "")


def candidates(config: TrainConfig) -> list[tuple[str, bool]]:
    """The (precision, xla) settings `config` leaves open, in SETTINGS' order; auto
    precision leaves bf16 out where oneDNN is capped below its kernels
    (hardware.bf16_blocked)."""
    auto = ("fp32",) if hardware.bf16_blocked() else ("fp32", "bf16")
    return [(p, x) for p, x in SETTINGS
            if (p == config.precision or config.precision == "auto" and p in auto)
            and config.xla in (None, x)]


def run_seconds(timing: Timing, steps: int, budget_seconds: float | None,
                prepare_seconds: float) -> tuple[float, float]:
    """(steps done, wall seconds) of a run of `steps` steps stopped after `budget_seconds`
    (None: no limit) at `timing`, each step variant's first call (`prepare_seconds`)
    included."""
    prepare = VARIANTS * prepare_seconds
    done = steps if budget_seconds is None else \
        min(steps, max(0.0, (budget_seconds - prepare) / timing.step_seconds))
    return done, prepare + done * timing.step_seconds


def choose(timings: list[Timing], steps: int,
           budget_seconds: float | None = None) -> tuple[Timing, str]:
    """The timing whose setting trains fastest over the run, and why, in words.

    `steps`: the run's length in steps (epochs x steps per epoch); `budget_seconds`: its
    --max_minutes in seconds (None: none). A setting's worth is steps done per second of the
    run, first calls included: the shortest run when the epochs end it, the most steps when
    the clock does. A first call is taken as the shortest of the settings with the same XLA
    choice: tracing (and compiling) costs about the same in either precision, and the setting
    timed first also pays TensorFlow's one-time start-up, which a run pays whatever it
    chooses. Within TIE of the best, the earlier setting of SETTINGS wins; a failed setting
    is worth nothing. Pure: no timing happens here.
    """
    prepare = {t: min((u.prepare_seconds for u in timings if u.xla == t.xla and not u.failed),
                      default=math.inf) for t in timings}
    worth = {t: _steps_per_second(t, steps, budget_seconds, prepare[t]) for t in timings}
    best = max(worth.values())
    chosen = next(t for t in sorted(timings, key=lambda t: SETTINGS.index((t.precision, t.xla)))
                  if worth[t] >= (1 - TIE) * best)
    parts = []
    failed = [t.name for t in timings if t.failed]
    other = _find(timings, "bf16" if chosen.precision == "fp32" else "fp32", chosen.xla)
    if other and not other.failed:
        ratio = _ratio(worth[chosen], worth[other])
        parts.append(f"{ratio:.2f}x faster than {other.precision}" if ratio >= 1 + TIE / 3
                     else f"as fast as {other.precision}" + (", and exact" if
                                                            chosen.precision == "fp32" else ""))
    other = _find(timings, chosen.precision, not chosen.xla)
    if other and not other.failed:
        per_step = other.step_seconds / chosen.step_seconds
        with_xla, without = (chosen, other) if chosen.xla else (other, chosen)
        compiling = max(0.0, VARIANTS * (prepare[with_xla] - prepare[without]))
        if chosen.xla:
            gain = _ratio(worth[chosen], worth[other])
            parts.append(f"{gain:.2f}x faster with XLA than without over this run, its "
                         f"~{compiling:.0f} s of compiling included")
        elif per_step < 1 - TIE / 3:
            parts.append(f"XLA's ~{compiling:.0f} s of compiling would not pay back in this "
                         f"run (its steps are {1 / per_step:.2f}x faster)")
        else:
            parts.append(f"{per_step:.2f}x faster than with XLA" if per_step >= 1 + TIE / 3
                         else "as fast as with XLA, without compiling")
    fastest = min((t for t in timings if not t.failed), key=lambda t: t.step_seconds,
                  default=chosen)  # every setting failed: a forced one, cached as failed
    if fastest.precision != chosen.precision and fastest.xla != chosen.xla \
            and chosen.step_seconds / fastest.step_seconds >= 1 + TIE / 3:
        # the setting named by neither comparison above: say why its faster steps lost
        per_step = chosen.step_seconds / fastest.step_seconds
        parts.append(f"{fastest.name}'s steps are {per_step:.2f}x faster, but not over this "
                     f"run, its ~{VARIANTS * prepare[fastest]:.0f} s of first calls included")
    if failed:
        parts.append(f"the step failed in {', '.join(failed)}")
    why = ", ".join(parts) if parts else "the only setting open"
    return chosen, f"{why}, measured on this CPU"


def _steps_per_second(timing: Timing, steps: int, budget_seconds: float | None,
                      prepare_seconds: float) -> float:
    if timing.failed:
        return 0.0
    done, seconds = run_seconds(timing, steps, budget_seconds, prepare_seconds)
    return done / seconds if seconds else 0.0


def _ratio(worth: float, other: float) -> float:
    """worth / other; 1 when `other` is 0: a budget shorter than every setting's first calls
    gives every setting no steps at all."""
    return worth / other if other else 1.0


def _find(timings: list[Timing], precision: str, xla: bool) -> Timing | None:
    return next((t for t in timings if (t.precision, t.xla) == (precision, xla)), None)


def measure(config: TrainConfig, settings: list[tuple[str, bool]], batch_size: int,
            channels: int = 3, num_classes: int = 0,
            round_seconds: float = ROUND_SECONDS) -> list[Timing]:
    """Time the G-and-D training step of `config` in each (precision, xla) of `settings` on a
    batch of `batch_size` random images (B, S, S, channels) in [-1, 1].

    Each setting's GAN is built, then called once (its prepare_seconds) and once more to warm
    up; a setting whose first call raises tf.errors.OpError is timed as failed (infinite
    seconds; the error is raised when every setting fails). Then every other setting takes
    ROUNDS turns of about `round_seconds`; a setting SLOW times slower per step than the
    best after one turn takes no more. Leaves Keras' dtype
    policy as it found it; the global random seeds end set to config.seed, as building the
    run's own GAN sets them.
    """
    import keras
    import tensorflow as tf

    from gan.models import MODELS
    from gan.training import TrainingState

    rng = np.random.default_rng(0)  # not the global generators, which the run seeds
    size = config.img_size
    real = rng.uniform(-1, 1, (batch_size, size, size, channels)).astype(np.float32)
    latents = rng.standard_normal((batch_size, config.latent_dim)).astype(np.float32)
    labels = np.arange(batch_size, dtype=np.int32) % num_classes if num_classes else None
    augment_p = TrainingState(config).strength.p  # where a run starts
    policy = keras.config.dtype_policy()
    steps = {}
    try:
        prepare, seconds = {}, {s: [] for s in settings}
        # All built before any is called: building a GAN seeds TensorFlow, which empties its
        # kernel cache, and the steps called before would instantiate their functions again.
        gans = {(p, x): MODELS[config.model].build(dataclasses.replace(config, precision=p,
                                                                         xla=x),
                                                   channels, num_classes=num_classes)
                for p, x in settings}
        failure = None
        for setting, gan in gans.items():
            steps[setting] = _caller(gan, real, latents, labels, augment_p)
            start = time.perf_counter()
            try:
                steps[setting]()
            except tf.errors.OpError as error:  # e.g. XLA cannot compile it in this precision
                failure = error
                continue
            prepare[setting] = time.perf_counter() - start
            steps[setting]()  # warm-up, untimed
        del gans
        active = [s for s in settings if s in prepare]
        if not active:
            raise failure
        for _ in range(ROUNDS):
            for setting in active:
                count, start = 0, time.perf_counter()
                while count == 0 or (count < ROUND_STEPS
                                     and time.perf_counter() - start < round_seconds):
                    steps[setting]()
                    count += 1
                seconds[setting].append((time.perf_counter() - start) / count)
            fastest = min(statistics.median(seconds[s]) for s in active)
            active = [s for s in active if statistics.median(seconds[s]) < SLOW * fastest]
    finally:
        keras.config.set_dtype_policy(policy)
        steps.clear()
        gc.collect()  # the GANs' compiled steps hold memory until their cycles are collected
    keras.utils.set_random_seed(config.seed)
    return [Timing(p, x, prepare[p, x], statistics.median(seconds[p, x])) if (p, x) in prepare
            else Timing(p, x, math.inf, math.inf) for p, x in settings]


def _caller(gan, real, latents, labels, augment_p):
    """A call of `gan`'s G-and-D step that waits for its result."""
    from gan.balance import Decision
    calls = iter(range(1 << 62))  # the step index seeds augmentation, as in a run
    return lambda: gan.step(real, latents, Decision.BOTH, next(calls), labels, augment_p)


def cache_path() -> Path:
    from gan.features import cache_dir
    return cache_dir() / "autotune.json"


def cache_key(config: TrainConfig, batch_size: int, channels: int, num_classes: int) -> str:
    """What the timings depend on, as text: the machine, TensorFlow, the kernel caps in the
    environment, and the shape of the network and its step."""
    import tensorflow as tf
    key = {"cpu": hardware.cpu_model(), "cores": hardware.usable_cores(),
           "tensorflow": tf.__version__, "env": {k: os.environ.get(k) for k in _ENV},
           "model": config.model, "arch": config.arch, "img_size": config.img_size,
           "channels": channels, "classes": num_classes, "latent_dim": config.latent_dim,
           "width": config.width, "batch": batch_size,
           "dropout": config.dropout, "loss": config.loss, "r1": config.r1_gamma > 0,
           "augment": ",".join(config.augment_policy()), "ada": config.ada_target > 0,
           "ema": config.ema_kimg > 0}
    return json.dumps(key, sort_keys=True)


def _read_cache(path: Path) -> dict:
    """The cache's entries; {} when it is missing, unreadable or not this format."""
    try:
        cache = json.loads(path.read_text())
        if cache.get("version") == CACHE_VERSION and isinstance(cache.get("entries"), dict):
            return cache["entries"]
    except (OSError, ValueError, AttributeError):
        pass
    return {}


def _write_cache(path: Path, entries: dict) -> None:
    """Replace the cache atomically; a read-only cache folder only costs measuring again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        try:
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": entries},
                                      indent=1) + "\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def timings(config: TrainConfig, batch_size: int, channels: int = 3, num_classes: int = 0,
            measure_fn=measure, on_measure=None) -> list[Timing]:
    """The timings of every setting `config` leaves open: from the cache, the missing ones
    measured (`measure_fn`, with gan.autotune.measure's signature) and cached;
    `on_measure(settings)`, if given, is called before measuring."""
    path, key = cache_path(), cache_key(config, batch_size, channels, num_classes)
    entries = _read_cache(path)
    found = {}
    for name, value in (entries.get(key) or {}).items():
        try:
            found[name] = Timing(**{f.name: value[f.name] for f in dataclasses.fields(Timing)})
        except (KeyError, TypeError):
            pass  # a damaged entry is measured again
    wanted = candidates(config)
    missing = [s for s in wanted if setting_name(*s) not in found]
    if missing:
        if on_measure:
            on_measure(missing)
        for timing in measure_fn(config, missing, batch_size, channels, num_classes):
            found[timing.name] = timing
        entries = _read_cache(path)  # another run may have written meanwhile
        entries[key] = {**(entries.get(key) if isinstance(entries.get(key), dict) else {}),
                        **{name: {**dataclasses.asdict(t),
                                  "measured": datetime.date.today().isoformat()}
                           for name, t in found.items()}}
        _write_cache(path, entries)
    return [found[setting_name(*s)] for s in wanted]


def tune(config: TrainConfig, batch_size: int, steps: int, channels: int = 3,
         num_classes: int = 0, on_measure=None, measure_fn=measure) -> Choice:
    """The setting a run of `config` uses: measured (or cached) and chosen among those its
    --precision and --xla leave open, for a run of `steps` steps stopped by --max_minutes.
    `batch_size`: the batch the run trains on (the set's size when it is smaller);
    `on_measure` and `measure_fn` as in `timings`.

    With --xla auto the settings without XLA are timed first; the XLA ones only when the run
    is long enough that they could pay back their compiling (`xla_could_pay`), so a short
    run does not spend a minute compiling just to be told to skip it.
    """
    budget = 60 * config.max_minutes if config.max_minutes else None
    found = timings(dataclasses.replace(config, xla=False) if config.xla is None else config,
                    batch_size, channels, num_classes, measure_fn, on_measure)
    skipped_xla = config.xla is None and not xla_could_pay(found, steps, budget)
    if config.xla is None and not skipped_xla:
        found = timings(config, batch_size, channels, num_classes, measure_fn, on_measure)
    chosen, reason = choose(found, steps, budget)
    if skipped_xla:
        reason = (f"{reason}; XLA not tried: its compiling could not pay back in a run this "
                  "short")
    if config.precision == "auto" and hardware.bf16_blocked():
        reason = f"{reason}; bf16 left out: {hardware.bf16_blocked()}"
    return Choice(chosen.precision, chosen.xla, reason, tuple(found))


def xla_could_pay(plain: list[Timing], steps: int, budget_seconds: float | None) -> bool:
    """Whether XLA could earn back its compiling in a run of `steps` steps (or
    `budget_seconds`), judged from the timings without XLA: compiling each step variant
    costs at least its tracing again (measured 2-3x tracing), and XLA saves at most
    XLA_BEST_GAIN of the step time (it was at best 1.5x faster: docs/performance.md)."""
    fastest = min(plain, key=lambda t: t.step_seconds)
    done, seconds = run_seconds(fastest, steps, budget_seconds, fastest.prepare_seconds)
    return XLA_BEST_GAIN * done * fastest.step_seconds > VARIANTS * fastest.prepare_seconds
