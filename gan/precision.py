"""Numeric precision: mixed bfloat16 where the CPU computes it natively, float32 elsewhere.

On CPUs without native bf16 (no AVX512_BF16 or AMX_BF16), TensorFlow emulates it and
mixed bf16 is slower than float32, so `auto` picks float32 there.
"""
from __future__ import annotations

import platform
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU advertises AVX512_BF16 or AMX_BF16 (Linux x86-64 only)."""
    if platform.system() != "Linux" or not cpuinfo.exists():
        return False
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return bool(_NATIVE_BF16_FLAGS & set(line.split(":", 1)[1].split()))
    return False


def resolve(precision: str) -> str:
    """"auto" -> "bf16" or "fp32" for this machine; other values unchanged."""
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return precision


def apply(precision: str) -> str:
    """Set Keras' global dtype policy for models built afterwards; returns fp32 or bf16."""
    import keras

    resolved = resolve(precision)
    keras.config.set_dtype_policy("mixed_bfloat16" if resolved == "bf16" else "float32")
    return resolved
