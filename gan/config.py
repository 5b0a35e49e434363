"""One configuration object that carries every training hyper-parameter.

`TrainConfig` is the only place a default is written: the command line builds its flags and
help from these fields, each run saves it as `config.json`, and `--resume` and
`--TYPE generate` read it back.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from gan.balance import BALANCE_RULES
from gan.errors import CorruptFile, UsageError
from gan.distribute import STRATEGIES
from gan.hardware import PRECISIONS
from gan.losses import LOSSES
from gan.models import MODELS
from gan.networks import ARCHITECTURES, REMOVED

IMG_SIZES = (32, 64, 128)
# Written into config.json, every checkpoint and every export; raise it when a change makes
# older code misread them. Anything newer than this is refused with a clear message.
FORMAT_VERSION = 1
AUGMENTATIONS = ("color", "translation", "cutout")  # gan/augment.py
# Options added after runs were first saved, with the value that reproduces what runs saved
# without them did: an older config.json lacking one is read with this value, not the default.
ADDED_LATER = {"ema_kimg": 0.0, "augment": "", "loss": "bce", "conditional": False,
               "ada_target": 0.0, "model": "gan", "arch": "dcgan"}
# The epoch-end jobs whose flag is not given run about every this many training images. On a
# few hundred images an epoch lasts about a second, and a checkpoint, a sample grid and a KD
# check after every epoch or ten took 30% of the wall clock (profiled; docs/performance.md).
EVERY_IMAGES = {"sample_every": 2_000, "save_every": 20_000, "eval_every": 20_000}


def _option(default, help, **cli):
    """A config field with its command-line help (and argparse extras such as `choices`)."""
    return field(default=default, metadata={"help": help, **cli})


def _loss_help() -> str:
    """--loss's help, from the registry: each loss, its description and the defaults it
    changes."""
    def entry(loss) -> str:
        changes = _either([f"--{flag} to {_shown(value)}"
                           for flag, value in loss.defaults.items()], " and ")
        notes = [note for note in (loss.description,
                                   changes and f"it changes the defaults of {changes}") if note]
        return loss.name + (f" ({'; '.join(notes)})" if notes else "")
    return "adversarial loss: " + _either([entry(loss) for loss in LOSSES.values()], ", or ")


def _shown(value) -> str:
    """A flag's value as typed on the command line: 1e-4 -> 0.0001, '' -> ''."""
    if isinstance(value, float):
        return f"{value:g}"
    return value if value != "" else "''"


def _either(names: list[str], last: str = " or ") -> str:
    """'a, b or c' (with `last` before the last one)."""
    return ", ".join(names[:-1]) + last + names[-1] if len(names) > 1 else "".join(names)


@dataclass
class TrainConfig:
    # data
    path: str | None = _option(
        None, "folder of images (JPEG, PNG, WebP, BMP, TIFF, PPM/PGM; searched recursively); "
        "default: the bundled demo set of Twemoji faces")
    img_size: int = _option(64, "image side in pixels", choices=IMG_SIZES)
    channels: int = _option(3, "3 = colour (RGB), 1 = grayscale images in and out",
                            choices=(1, 3))
    flip: bool = _option(True, "random horizontal flips of the training images")
    conditional: bool = _option(False, "learn one class per immediate subfolder of --path "
                                       "(a class-conditional GAN); generate with --label")
    # networks
    # No argparse choices: validate() words a removed architecture as such. skip, not dcgan:
    # better faces at 5 and 10 minutes on 3 seeds of 3 on a 2-core AVX2 CPU, in KD, SWD and
    # to the eye (benchmarks/time_to_quality.py, docs/experiments.md).
    arch: str = _option("skip", "the networks' architecture: " + "; ".join(
        f"{name}: {arch.description}" for name, arch in ARCHITECTURES.items()),
        metavar="{" + ",".join(ARCHITECTURES) + "}")
    latent_dim: int = _option(100, "length of the generator's latent (noise) vector")
    # 32 and 32, not DCGAN's 64 and 64: measured better faces per CPU-minute on 400 faces
    # up to ~15 minutes; width 48 won at 30 (benchmarks/time_to_quality.py,
    # docs/experiments.md), but the default run (200 epochs) lasts about 4.
    width: int = _option(32, "channels of the generator's last hidden layer and the "
                             "discriminator's first; the others are multiples of it")
    dropout: float = _option(0.0, "dropout rate after each discriminator block")
    model: str = _option("gan", "; ".join(f"{name}: {kind.description}"
                                          for name, kind in MODELS.items()), choices=MODELS)
    kl_weight: float = _option(1.0, "--model vaegan: weight of the encoder's KL divergence "
                                    "to N(0, I), per latent dimension")
    recon_weight: float = _option(1.0, "--model vaegan: weight gamma of the reconstruction "
                                       "error in G's loss")
    # optimisation
    epochs: int = _option(200, "total epochs to train (on --resume: the new total)")
    batch_size: int = _option(32, "images per batch")
    lr_g: float = _option(2e-4, "generator learning rate (Adam)")
    lr_d: float = _option(2e-4, "discriminator learning rate (Adam)")
    beta1: float = _option(0.5, "Adam beta1 for both networks (DCGAN: 0.5)")
    beta2: float = _option(0.999, "Adam beta2 for both networks")
    loss: str = _option("bce", _loss_help(), choices=LOSSES)
    gp_weight: float = _option(10.0, "--loss wgan-gp: weight of the gradient penalty")
    # Off by default: 0.1 measured better at 30 minutes (KD 0.070 against 0.077) but behind at
    # 10, as each D update costs ~20% more (docs/experiments.md).
    r1_gamma: float = _option(
        0.0, "weight gamma of the R1 gradient penalty on real images (Mescheder et al. "
             "2018): D's loss adds gamma/2 * E[|grad D(x)|^2]; 0 = off")
    label_smoothing: float = _option(
        0.0, "--loss bce: one-sided label smoothing: the discriminator's target for real "
             "images is 1 - this value")
    # On by default, adaptive: measured best at 30 minutes and no cost in the first 5
    # (benchmarks/time_to_quality.py, docs/experiments.md). ADA's own target, 0.6, came
    # too late here: margin gating holds D's real logits down, so E[sign] rose past 0.6 only
    # after D had memorised the set for minutes.
    augment: str = _option(
        "color,translation,cutout", "DiffAugment of D's input, real and fake alike (Zhao et "
        "al. 2020): a comma-separated list of color, translation, cutout; '' = none")
    ada_target: float = _option(
        0.3, "--augment: adaptive strength (after ADA, Karras et al. 2020): each "
             "augmentation is applied with a probability p that starts at 0, rises while "
             "E[sign(D(real images))] is above this target (D memorising) and falls below "
             "it; 0 = always apply them (p = 1)")
    ada_kimg: float = _option(
        100.0, "--augment with --ada_target: thousands of images over which p can move from "
               "0 to 1 (ADA: 500)")
    ema_kimg: float = _option(
        10.0, "half-life of the exponential moving average (EMA) of G's weights that samples, "
             "evaluation and generate use, in thousands of images (shorter early in a run, "
             "as in StyleGAN2-ADA); 0 = off: use G's own weights")
    # balance control
    balance: str = _option("margin", "; ".join(f"{name}: {rule.description}"
                                               for name, rule in BALANCE_RULES.items()),
                           choices=BALANCE_RULES)
    # Defaults measured with benchmarks/balance_sweep.py (docs/experiments.md): e = 0.1 on the
    # last batch's losses kept the losses near ln 2 but cut the samples' variety in half.
    margin: float = _option(0.5, "the balance margin e, in nats of binary cross-entropy")
    max_skip: int = _option(2, "never skip the same network more than this many "
                               "consecutive batches")
    loss_ema: float = _option(0.9, "smoothing of the losses the controller compares: "
                                   "0 = the last batch's losses only, 0.9 = a slow average")
    d_threshold: float = _option(0.3, "--balance threshold: skip D's update while the last "
                                      "loss_D is below this, in nats")
    d_steps: int = _option(5, "--balance ratio: D updates per G update (WGAN: 5)")
    # evaluation
    eval_every: int | None = _option(
        None, "every N epochs, score KD of 256 samples against the training set and keep "
              "the best checkpoint by it (--checkpoint best); 0 = off; default: about every "
              "20,000 images when --epochs >= 20, else off")
    # speed
    precision: str = _option(
        "auto", "fp32 (float32) or bf16 (mixed bfloat16: bfloat16 compute, float32 weights); "
                "auto: whichever trains faster on this CPU, measured at the run's start by "
                "timing a few seconds of the real step in each and cached per CPU and network "
                "shape (gan/autotune.py); --TYPE check shows the timings", choices=PRECISIONS)
    xla: bool | None = _option(
        None, "compile the training steps with XLA (single device only); default: measured "
              "with --precision, on when its faster steps earn back its compiling (10-30 s "
              "per step variant) over the run's --epochs or --max_minutes")
    distribute: str = _option("auto", "tf.distribute strategy: none, mirrored (all GPUs), "
                              "multiworker (TF_CONFIG); auto picks by what it finds",
                              choices=STRATEGIES)
    # run bookkeeping
    seed: int = _option(0, "random seed for weights, noise and data order")
    save_every: int | None = _option(
        None, "keep a checkpoint every N epochs; default: about every 20,000 images (the "
              "latest is also saved about every 2,000 images, and at every stop)")
    sample_every: int | None = _option(
        None, "write a sample grid every N epochs; default: about every 2,000 images")
    max_minutes: float | None = _option(
        None, "stop cleanly after this many minutes of wall-clock time from the first step "
              "(evaluations and checkpoints included), with a checkpoint (on --resume: more "
              "minutes)")

    def validate(self) -> None:
        """Raise UsageError naming the first bad value and what to use instead."""
        for f in dataclasses.fields(self):  # nan passes every comparison below
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UsageError(f"--{f.name} must be a finite number, got {value}")
        positive = ("epochs", "batch_size", "latent_dim", "width", "save_every", "sample_every",
                    "max_skip", "lr_g", "lr_d", "d_threshold", "d_steps", "ada_kimg",
                    "max_minutes")
        for name in positive:
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UsageError(f"--{name} must be > 0, got {getattr(self, name):g}: give a "
                                 "positive number or leave the flag out for its default")
        for name in ("margin", "r1_gamma", "gp_weight", "ema_kimg", "eval_every", "kl_weight",
                     "recon_weight"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise UsageError(f"--{name} must be >= 0, got {getattr(self, name):g}: give 0 or "
                                 "a positive number, or leave the flag out for its default")
        if self.img_size not in IMG_SIZES:
            raise UsageError(f"--img_size must be one of {', '.join(map(str, IMG_SIZES))}, "
                             f"got {self.img_size}")
        if self.arch in REMOVED:
            raise UsageError(f"{_removed(self.arch)}; leave --arch out for {TrainConfig.arch}")
        if self.arch not in ARCHITECTURES:
            raise UsageError(f"--arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch}")
        if self.balance not in BALANCE_RULES:
            raise UsageError(f"--balance must be one of {', '.join(BALANCE_RULES)}, got "
                             f"{self.balance}")
        for name in ("beta1", "beta2", "loss_ema", "dropout", "label_smoothing", "ada_target"):
            if not 0 <= getattr(self, name) < 1:
                raise UsageError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if self.loss not in LOSSES:
            raise UsageError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss}")
        self._check_loss_fits()
        refusal = MODELS[self.model].refusal(self) if self.model in MODELS else \
            f"--model must be one of {', '.join(MODELS)}, got {self.model}"
        if refusal:
            raise UsageError(refusal)
        unknown = [name for name in self.augment_policy() if name not in AUGMENTATIONS]
        if unknown:
            raise UsageError(f"--augment: unknown augmentation {unknown[0]!r}; use a comma-"
                             f"separated list of {', '.join(AUGMENTATIONS)}, or '' for none")

    def _check_loss_fits(self) -> None:
        """UsageError when --loss cannot be used with the balance rule, the adaptive
        augmentation or R1 (what each needs: gan/balance.py, gan/losses.py)."""
        loss = LOSSES[self.loss]
        if BALANCE_RULES[self.balance].needs_nats and not loss.in_nats:
            usable = [name for name, rule in BALANCE_RULES.items() if not rule.needs_nats]
            default = loss.defaults.get("balance")
            if default in usable:
                usable = [f"{default} (its default)"] + [n for n in usable if n != default]
            raise UsageError(f"--balance {self.balance} compares losses in nats of cross-"
                             f"entropy, which {loss.scores} are not; with --loss {loss.name} "
                             f"use --balance {_either(usable)}")
        if not loss.signs_meaningful and self.augment_policy() and self.ada_target:
            default = " (its default there)" if loss.defaults.get("ada_target") == 0 else ""
            raise UsageError(f"--ada_target reads the sign of D's logits, which {loss.scores} "
                             f"do not have; with --loss {loss.name} use --ada_target 0{default}: "
                             "augment every image")
        if self.r1_gamma and not loss.allows_r1:
            allowing = [name for name, other in LOSSES.items() if other.allows_r1]
            raise UsageError(f"--r1_gamma applies with --loss {_either(allowing)}; "
                             f"{loss.r1_refusal}: remove --r1_gamma")

    @classmethod
    def from_flags(cls, flags: dict) -> "TrainConfig":
        """The configuration of the flags given, the others at their defaults (which follow
        --loss where its `defaults` say so, gan/losses.py). UsageError for a flag given that
        would have no effect with the others (a balance rule's or a loss's own `flags`)."""
        loss = flags.get("loss", cls.loss)
        config = cls(**{**(LOSSES[loss].defaults if loss in LOSSES else {}), **flags})
        for flag, (other, values) in _applies_with().items():
            if flag in flags and getattr(config, other) not in values:
                raise UsageError(f"--{flag} applies only with --{other} {_either(values)}; "
                                 f"this run has --{other} {getattr(config, other)}: remove "
                                 f"--{flag}")
        for flag in ("ada_target", "ada_kimg"):
            if flag in flags and not config.augment_policy():
                raise UsageError(f"--{flag} sets how often --augment applies, and this run has "
                                 f"no augmentation: add --augment or remove --{flag}")
        return config

    def augment_policy(self) -> tuple[str, ...]:
        """--augment as a tuple of names: 'color, cutout' -> ('color', 'cutout'), '' -> ();
        an empty name ('color,,cutout') is kept, for validate() to refuse."""
        if not self.augment.strip():
            return ()
        return tuple(name.strip() for name in self.augment.split(","))

    def every(self, job: str, num_images: int) -> int:
        """Epochs between the epoch-end `job`s ("sample_every", "save_every" or "eval_every")
        on a training set of `num_images`: the flag's value when given, else about every
        EVERY_IMAGES[job] images (at least every epoch); 0 means never."""
        given = getattr(self, job)
        if given is not None:
            return given
        if job == "eval_every" and self.epochs < 20:  # a quick run: not worth loading the scorer
            return 0
        return epochs_for(EVERY_IMAGES[job], num_images)

    def save(self, path: Path) -> None:
        values = {"format_version": FORMAT_VERSION, **dataclasses.asdict(self)}
        path.write_text(json.dumps(values, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """The configuration saved at `path`; UsageError when a newer format wrote it or
        its --arch has been removed (naming the commit that has it), CorruptFile when it is
        damaged (a value missing or of the wrong type)."""
        from gan.files import read_json

        remedy = ("restore it from a copy (each checkpoint's state.json holds the run's "
                  "configuration under \"config\")")
        known = {f.name for f in dataclasses.fields(cls)}
        values = read_json(path, remedy)
        check_format(values.get("format_version", 1), path)
        values = {**ADDED_LATER, **values}
        if isinstance(values["arch"], str) and values["arch"] in REMOVED:
            raise UsageError(f"{path} is from a run trained with " + _removed(values["arch"]))
        config = cls(**{k: v for k, v in values.items() if k in known})
        if not all(_has_type(getattr(config, f.name), f.type) for f in dataclasses.fields(cls)):
            raise CorruptFile(path, remedy)
        return config


def _removed(arch: str) -> str:
    """Why --arch `arch` is refused: removed, and the commit that still has its code."""
    return (f"--arch {arch} was raced against dcgan and removed (docs/experiments.md); its "
            f"code is in commit {REMOVED[arch]} (`git checkout {REMOVED[arch]}`)")


def _applies_with() -> dict[str, tuple[str, list[str]]]:
    """{flag: (field, values)} for the flags that act only with some values of another
    field: each balance rule's and each loss's own `flags`."""
    owners = {}
    for other, registry in (("balance", BALANCE_RULES), ("loss", LOSSES), ("model", MODELS)):
        for name, variant in registry.items():
            for flag in variant.flags:
                owners.setdefault(flag, (other, []))[1].append(name)
    return owners


def _has_type(value, annotation: str) -> bool:
    """Whether `value` fits a field's annotation text ("int", "float | None", ...)."""
    types = {"int": int, "float": (int, float), "str": str, "bool": bool, "None": type(None)}
    return any(isinstance(value, types[name.strip()]) for name in annotation.split("|"))


def epochs_for(images: int, num_images: int) -> int:
    """Whole epochs of a `num_images` set closest to `images` images seen, at least 1."""
    return max(1, round(images / num_images))


def check_format(version: int, path: Path) -> None:
    """UsageError when `path` was written in a format newer than this code reads."""
    if version > FORMAT_VERSION:
        raise UsageError(f"{path} was written in format {version} by a newer version of this "
                         f"tool; this one reads format {FORMAT_VERSION} and older: update it")


def fields() -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(TrainConfig)
