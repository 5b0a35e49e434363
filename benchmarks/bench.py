"""Speed of the product on this machine, measured in one run against a textbook baseline.

    python benchmarks/bench.py [--img_size 64] [--batch_size 64] [--width 64] [--seconds 5]

Prints a table and one JSON line. The "setting" rows time the G-and-D step in each
precision with XLA off and on, as `--precision auto` does (gan/autotune.measure, here
without its cache, `--seconds` / 3 per turn), and `auto_setting` is the one auto picks from
them for a default-length run on 400 images; the product's rows run at that setting. Everything is measured in this process (or its children)
on this machine; compare figures only within one run. FLOPs are counted from the layer shapes:
a training step costs 3x the forward FLOPs of G plus D on real and fake images (forward,
backward to activations, backward to weights).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan.balance import Decision  # noqa: E402
from gan.checkpoints import checkpoint_name  # noqa: E402
from gan.runs import Run  # noqa: E402
from gan.config import TrainConfig  # noqa: E402
from gan.data import load_images  # noqa: E402
from gan import autotune  # noqa: E402
from gan.data import steps_per_epoch  # noqa: E402
from gan.hardware import cpu_model  # noqa: E402
from gan.model import GAN  # noqa: E402
from gan.training import Trainer  # noqa: E402


def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of one image through `model`'s Dense and (transposed) convolutions."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, c_in = layer.input.shape
            k = layer.kernel_size
            total += 2 * h * w * c_in * k[0] * k[1] * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k = layer.kernel_size
            total += 2 * h * w * c_out * k[0] * k[1] * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return total


def timed(fn, seconds: float, warmup: int = 2) -> float:
    """Calls per second of fn() over at least `seconds` (after `warmup` calls)."""
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def first_call_seconds(fn) -> float:
    """Seconds of fn()'s first call: tracing and, with XLA, compiling, which the rates leave
    out. Each of the three steps pays it once per run (on an AVX2-only EPYC at the defaults,
    30 s with XLA against 10 s without for the G-and-D step: 76 s for all three with XLA, a
    quarter of a 5-minute run)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def textbook_step(gan: GAN, config: TrainConfig):
    """The plain DCGAN step: fp32, one G and one D update per batch, tf.function, no tricks."""
    g, d = gan.generator, gan.discriminator
    g_opt = keras.optimizers.Adam(config.lr_g, beta_1=config.beta1)
    d_opt = keras.optimizers.Adam(config.lr_d, beta_1=config.beta1)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real):
        z = tf.random.normal([tf.shape(real)[0], config.latent_dim])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = g(z, training=True)
            real_logits, fake_logits = d(real, training=True), d(fake, training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + \
                bce(tf.zeros_like(fake_logits), fake_logits)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables),
                                  d.trainable_variables))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables),
                                  g.trainable_variables))
        return g_loss, d_loss
    return step


def peak_gflops(seconds: float, dtype=tf.float32) -> float:
    """GFLOP/s of a 2048 x 2048 matmul in `dtype`: the CPU's practical peak."""
    a = tf.cast(tf.random.normal([2048, 2048]), dtype)
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, a)))
    return timed(lambda: matmul().numpy(), seconds) * 2 * 2048 ** 3 / 1e9


def make_run(runs_dir: Path, config: TrainConfig) -> Path:
    """A run folder with an untrained checkpoint, for timing generation."""
    runs_dir.mkdir(parents=True)
    run = Run.create(runs_dir, "bench", "")
    config.save(run.config_file)
    run.checkpoint_store(**GAN(config).trackables()).save(checkpoint_name(0, 0), {})
    return run.folder


def child_run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds of a child process and its peak RSS in MiB (0 where /proc is missing).

    The peak is the child's VmHWM, polled while it runs: getrusage() would also count the
    memory of this process, which the child shares between fork and exec.
    """
    start, peak_kib = time.perf_counter(), 0
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            hwm = [line for line in status.read_text().splitlines() if line.startswith("VmHWM")]
            peak_kib = max([peak_kib] + [int(line.split()[1]) for line in hwm])
        except OSError:  # exited between poll() and the read
            pass
        time.sleep(0.05)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return time.perf_counter() - start, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--img_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--width", type=int, default=64,
                        help="network width; 64 is the DCGAN paper's, which the textbook "
                             "step is measured at")
    parser.add_argument("--seconds", type=float, default=5, help="per timed measurement")
    parser.add_argument("--settings_only", action="store_true",
                        help="only the setting rows and auto's choice (a minute or two)")
    args = parser.parse_args()
    auto = TrainConfig(img_size=args.img_size, batch_size=args.batch_size, width=args.width)
    settings = autotune.measure(auto, autotune.candidates(auto), args.batch_size,
                                round_seconds=args.seconds / autotune.ROUNDS)
    results: dict[str, float] = {}
    for timing in settings:
        results[f"setting_{timing.name}_first_step_s"] = timing.prepare_seconds
        results[f"setting_{timing.name}_img_per_s"] = args.batch_size / timing.step_seconds
    chosen, reason = autotune.choose(settings, auto.epochs * steps_per_epoch(400,
                                                                             args.batch_size))
    config = dataclasses.replace(auto, precision=chosen.precision, xla=chosen.xla)
    used = chosen.name
    if not args.settings_only:
        product_rows(config, args, results)
    cpu = cpu_model()
    print(f"machine: {os.cpu_count()} CPUs, {cpu}, TensorFlow {tf.__version__}, "
          f"{args.img_size}px, batch {args.batch_size}, auto setting {used} ({reason})")
    for key, value in results.items():
        print(f"  {key:34s} {value:10.3f}")
    print(json.dumps({"auto_setting": used, "auto_reason": reason,
                      **{k: round(v, 4) for k, v in results.items()}}))


def product_rows(config: TrainConfig, args, results: dict) -> None:
    """The product's steps, generation, loading and evaluation at `config`, into `results`."""
    gan = GAN(config)
    real = tf.random.uniform([args.batch_size, args.img_size, args.img_size, 3], -1, 1)
    latents = tf.random.normal([args.batch_size, config.latent_dim])

    for decision in Decision:
        results[f"first_step_s_{decision.value}"] = first_call_seconds(
            lambda: gan.step(real, latents, decision))
        rate = timed(lambda: gan.step(real, latents, decision), args.seconds) * args.batch_size
        results[f"train_img_per_s_{decision.value}"] = rate
    step = textbook_step(GAN(dataclasses.replace(config, precision="fp32", xla=False)), config)
    results["textbook_img_per_s"] = timed(lambda: [t.numpy() for t in step(real)],
                                          args.seconds) * args.batch_size
    results["speedup_vs_textbook"] = results["train_img_per_s_both"] / results[
        "textbook_img_per_s"]
    step_flops = 3 * (forward_flops(gan.generator) + 2 * forward_flops(gan.discriminator))
    results["gflop_per_image_step"] = step_flops / 1e9
    results["achieved_gflops"] = results["train_img_per_s_both"] * step_flops / 1e9
    results["peak_gflops_fp32"] = peak_gflops(args.seconds / 2)
    if gan.precision == "bf16":
        results["peak_gflops_bf16"] = peak_gflops(args.seconds / 2, tf.bfloat16)
    results["fraction_of_peak"] = results["achieved_gflops"] / results[
        f"peak_gflops_{gan.precision}"]

    sample = tf.function(lambda z: gan.generator(z, training=False))
    z = tf.random.normal([256, config.latent_dim])
    results["generate_img_per_s"] = timed(lambda: sample(z).numpy(), args.seconds / 2) * 256

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_run(tmp / "runs", config)
        train_py = [sys.executable, str(ROOT / "train.py")]
        results["generate_cli_s"], _ = child_run(
            train_py + ["--TYPE", "generate", "--img_num", "16", "--runs_dir", str(tmp / "runs"),
                        "--seed", "0"])
        faces_400 = DATASETS / "faces-400"
        if faces_400.is_dir():
            real = load_images(faces_400, args.img_size)
            results["margin_epoch_img_per_s"] = margin_epoch_rate(config, real,
                                                                args.seconds * 2)
            from gan import metrics
            fakes = np.random.default_rng(0).integers(0, 256, (1000,) + real.shape[1:],
                                                      dtype=np.uint8)
            results["evaluate_1000_vs_400_s"] = metrics.evaluate(real, fakes)["seconds"]
        faces_9k = DATASETS / "faces-9k"
        if faces_9k.is_dir():
            start = time.perf_counter()
            load_images(faces_9k, args.img_size, tmp / "cache")
            results["faces9k_cold_load_s"] = time.perf_counter() - start
            start = time.perf_counter()
            load_images(faces_9k, args.img_size, tmp / "cache")
            results["faces9k_cached_load_s"] = time.perf_counter() - start
            _, results["faces9k_train_peak_rss_mib"] = child_run(
                train_py + ["--TYPE", "train", "--path", str(faces_9k), "--runs_dir",
                            str(tmp / "runs9k"), "--max_minutes", "0.2", "--img_size",
                            str(args.img_size)])


def margin_epoch_rate(config: TrainConfig, images_uint8: np.ndarray, seconds: float) -> float:
    """img/s of whole margin-gated epochs on real data, through the trainer's own batch
    (controller, step and bookkeeping: gan.training.Trainer.train_batch) and data pipeline,
    over as many epochs as fit in `seconds` after one warm-up epoch."""
    trainer = Trainer(config, images_uint8)
    real = tf.cast(images_uint8[:config.batch_size], tf.float32) / 127.5 - 1
    latents = tf.random.normal([config.batch_size, config.latent_dim])
    for decision in Decision:  # compile all three steps first
        trainer.gan.step(real, latents, decision)
    count, start = 0, None
    while start is None or time.perf_counter() - start < seconds:
        if trainer.state.progress.epoch == 1:  # epoch 0 warms up the data pipeline
            count, start = 0, time.perf_counter()
        for batch in trainer.epoch_batches():
            trainer.train_batch(*batch)
            count += int(batch[0].shape[0])
        trainer.epoch_done()
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
