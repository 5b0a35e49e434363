import keras
import numpy as np
import pytest
import tensorflow as tf

from gan import hardware
from gan.balance import Decision


@pytest.mark.parametrize("flags, native", [
    ("fpu avx2 avx512f avx512_bf16", True),
    ("fpu avx2 amx_bf16 amx_tile", True),
    ("fpu avx2 fma", False),
])
def test_native_bf16_is_read_from_cpu_flags(tmp_path, monkeypatch, flags, native):
    monkeypatch.setattr(hardware.platform, "system", lambda: "Linux")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert hardware.cpu_has_native_bf16(cpuinfo) is native


def test_auto_precision_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert hardware.resolve_precision("auto") == "fp32"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert hardware.resolve_precision("auto") == "bf16"
    assert hardware.resolve_precision("fp32") == "fp32"


@pytest.mark.parametrize("flags, xla", [
    ({"avx2", "fma"}, True),                            # measured: XLA 1.5x faster
    ({"avx2", "avx512f", "avx512_bf16"}, False),        # measured: XLA 0.5-0.7x
    (set(), False),                                     # unknown CPU (not Linux x86)
])
def test_auto_xla_follows_the_cpu(monkeypatch, flags, xla):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
    assert hardware.resolve_xla(None) is xla
    assert hardware.resolve_xla(True) is True and hardware.resolve_xla(False) is False


def test_bf16_step_computes_in_bf16_and_keeps_float32_weights_and_losses(tiny_config):
    import dataclasses
    from gan.training import GAN
    try:
        gan = GAN(dataclasses.replace(tiny_config, precision="bf16", xla=False))
        assert gan.precision == "bf16"
        conv = next(layer for layer in gan.discriminator.layers
                    if isinstance(layer, keras.layers.Conv2D))
        assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
        assert gan.discriminator.output.dtype == "float32"
        out = gan.step(tf.random.uniform((8, 32, 32, 3), -1, 1), tf.random.normal((8, 16)),
                       Decision.BOTH)
        assert out.dtype == np.float32 and np.isfinite(out).all()
    finally:
        keras.config.set_dtype_policy("float32")
