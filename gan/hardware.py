"""The numeric precision a model computes in, and what identifies this CPU.

`--precision auto` and `--xla` left out (auto) are settled for a run by measuring the training
step on the user's CPU (gan/autotune.py), not by the CPU's feature flags. A GAN built with
either still on auto without a measurement (library use, a multi-replica strategy, whose
workers must all agree) computes in float32 without XLA: the setting every CPU runs, exactly.
"""
from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
CPUINFO = Path("/proc/cpuinfo")
# Flags that decide which kernels oneDNN and XLA can use: two CPUs sold under one model name
# (or one CPU in two virtual machines) may differ in them.
_SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16")
# oneDNN's ISA caps (ONEDNN_MAX_CPU_ISA values) that keep its bf16 kernels.
_BF16_ISAS = ("avx512_core_bf16", "avx512_core_fp16", "avx10_1_512", "avx512_core_amx",
              "avx10_1_512_amx", "avx512_core_amx_fp16", "avx10_1_512_amx_fp16", "all",
              "default")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty off Linux)."""
    if platform.system() != "Linux" or not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name and the flags that decide its kernels, e.g. 'AMD EPYC (avx2,
    avx512_bf16, avx512f)'; off Linux, the processor and machine names."""
    model = platform.processor() or platform.machine()
    if platform.system() == "Linux" and cpuinfo.exists():
        names = [line.split(":", 1)[1].strip()
                 for line in cpuinfo.read_text(errors="replace").splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    flags = sorted(cpu_flags(cpuinfo) & set(_SPEED_FLAGS))
    return f"{model} ({', '.join(flags) or 'no AVX2'})"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def bf16_blocked() -> str:
    """Why bf16 cannot run here, or "" when it can: ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA)
    capping oneDNN below its bf16 kernels. TensorFlow reads the CPU itself and still sends
    bf16 ops to oneDNN, which then has no kernel for them: the op fails, or a matmul aborts
    the process (TensorFlow 2.21 with ONEDNN_MAX_CPU_ISA=AVX2 on an AVX512_BF16 CPU). On a
    CPU really without bf16, TensorFlow emulates it instead (slowly)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    if not cap or os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0" or \
            cap.lower() in _BF16_ISAS:
        return ""
    return f"ONEDNN_MAX_CPU_ISA={cap} leaves oneDNN no bf16 kernels"


def resolve_precision(precision: str) -> str:
    """"auto" (not measured) -> "fp32"; other values unchanged."""
    return "fp32" if precision == "auto" else precision


def resolve_xla(xla: bool | None) -> bool:
    """None (auto, not measured) -> False; True/False unchanged."""
    return bool(xla)


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
