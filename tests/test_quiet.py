"""The command line keeps TensorFlow's start-up notices off stderr, and nothing else
(gan/quiet.py)."""
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import ROOT

NOTICES = ["I0000 00:00:1796230801.267713    5639 port.cc:153] oneDNN custom operations are "
           "on. You may see slightly different numerical results due to floating-point "
           "round-off errors from different computation orders. To turn them off, set the "
           "environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
           "WARNING: All log messages before absl::InitializeLog() is called are written to "
           "STDERR",
           "I0000 00:00:1796230819.480727    6125 cpu_feature_guard.cc:227] This TensorFlow "
           "binary is optimized to use available CPU instructions in performance-critical "
           "operations.",
           "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, "
           "in other operations, rebuild TensorFlow with the appropriate compiler flags.",
           "E0000 00:00:1796230814.418017    5639 meta_optimizer.cc:967] remapper failed: "
           "INVALID_ARGUMENT: Mutation::Apply error: fanout 'gradient_tape/discriminator_1/"
           "leaky_re_lu_1_2/LeakyRelu/LeakyReluGrad' exist for missing node "
           "'discriminator_1/conv2d_1_2/BiasAdd'.",
           "E0000 00:00:1796310154.539232   23530 util.cc:131] oneDNN supports DT_INT32 only "
           "on platforms with AVX-512. Falling back to the default Eigen-based implementation "
           "if present."]
MARKERS = ["oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard",
           "To enable the following instructions", "remapper failed", "oneDNN supports DT_"]


def test_native_notices_are_dropped_and_other_native_lines_pass_even_through_a_crash():
    real = ["W0000 00:00:1.0 1 op_kernel.cc:1] a real warning",
            "E0000 00:00:1.0 1 meta_optimizer.cc:967] layout failed: a real error",
            "F0000 00:00:1.0 1 check.cc:1] Check failed: a fatal one"]
    lines = [NOTICES[0], real[0], *NOTICES[1:], real[1], real[2]]
    script = ("import os, sys\nfrom gan import quiet\nquiet.filter_native_stderr()\n"
              f"os.write(2, {''.join(line + chr(10) for line in lines).encode()!r})\n"
              "print('a Python warning', file=sys.stderr)\nos.abort()\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode < 0  # aborted; the filter still passed on what came before
    # Python's own stderr bypasses the filter, so it may come before or after the rest.
    native = [line for line in done.stderr.splitlines() if line != "a Python warning"]
    assert native == real and "a Python warning" in done.stderr


def test_the_cli_shows_no_tensorflow_notices_but_still_shows_errors(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            folder / f"{i}.png")
    command = [sys.executable, "train.py", "--TYPE", "check", "--path", str(folder),
               "--img_size", "32", "--width", "8", "--no-xla"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "speed:" in done.stdout  # the check traced and ran training steps
    assert not [m for m in MARKERS if m in done.stderr], done.stderr

    bad = subprocess.run(command + ["--width", "-1"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr == "error: --width must be > 0, got -1: give a positive number or " \
                         "leave the flag out for its default\n"
