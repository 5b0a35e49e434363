"""What this CPU computes fastest: the numeric precision and whether to compile with XLA.

Both `auto` choices follow the CPU's feature flags, from measurements of the training step
(64 px, batch 64, `python benchmarks/bench.py`, 2 cores):

| CPU                          | fp32    | fp32 + XLA | bf16    | bf16 + XLA |
|------------------------------|---------|------------|---------|------------|
| AMD EPYC, AVX2 only          | 20 img/s| 31 img/s   | emulated, slower | -  |
| AMD EPYC, AVX-512 + BF16     | 90 img/s| 65 img/s   | 130 img/s | 65 img/s |

So: mixed bfloat16 where the CPU has native bf16 (AVX512_BF16 or AMX_BF16), float32
elsewhere; XLA only on CPUs without AVX-512, where oneDNN's kernels lose to it.

XLA's compiling is paid at the start, once per step variant: on the AVX2-only EPYC at the
defaults (`python benchmarks/bench.py --width 32 --batch_size 32`, 2026-12-02), the first
call of the G-and-D, G-only and D-only steps took 30, 25 and 21 s with XLA against 10 s
without (G and D), for 85 against 77 img/s with every augmentation on (p = 1), and 3.3
against 2.5 steps/s with none (p = 0, as in a run's first minutes; a throwaway timing of
GAN.step). XLA is ahead after about 450 steps, 2-3 minutes into a run, so it stays on there.
"""
from __future__ import annotations

import contextlib
import platform
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty off Linux)."""
    if platform.system() != "Linux" or not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """True when the CPU advertises AVX512_BF16 or AMX_BF16 (Linux x86-64 only)."""
    return bool(_NATIVE_BF16_FLAGS & cpu_flags(cpuinfo))


def resolve_precision(precision: str) -> str:
    """"auto" -> "bf16" or "fp32" for this machine; other values unchanged."""
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return precision


def resolve_xla(xla: bool | None) -> bool:
    """None (auto) -> True on x86 CPUs without AVX-512, else False; True/False unchanged."""
    if xla is None:
        flags = cpu_flags()
        return bool(flags) and "avx512f" not in flags
    return xla


@contextlib.contextmanager
def float32_policy():
    """Models built inside compute in float32, whatever policy training set (generation,
    export and the feature network do not follow the training precision)."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def apply_precision(precision: str) -> str:
    """Set Keras' global dtype policy for models built afterwards; returns fp32 or bf16."""
    import keras

    resolved = resolve_precision(precision)
    keras.config.set_dtype_policy("mixed_bfloat16" if resolved == "bf16" else "float32")
    return resolved
