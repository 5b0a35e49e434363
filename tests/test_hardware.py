import keras
import numpy as np
import pytest
import tensorflow as tf

from gan import hardware
from gan.balance import Decision


def test_cpu_model_names_the_model_and_the_flags_that_pick_kernels(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware.platform, "system", lambda: "Linux")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel Xeon\n"
                       "flags\t\t: fpu avx2 fma avx512f avx512_bf16 avx512_fp16\n")
    assert hardware.cpu_model(cpuinfo) == "Intel Xeon (avx2, avx512_bf16, avx512_fp16, avx512f)"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Old\nflags\t\t: fpu sse2\n")
    assert hardware.cpu_model(cpuinfo) == "Old (no AVX2)"


def test_unmeasured_auto_is_float32_without_xla():
    assert hardware.resolve_precision("auto") == "fp32"
    assert hardware.resolve_precision("bf16") == "bf16"
    assert hardware.resolve_xla(None) is False
    assert hardware.resolve_xla(True) is True and hardware.resolve_xla(False) is False


@pytest.mark.skipif(bool(hardware.bf16_blocked()), reason="oneDNN capped below bf16")
def test_bf16_step_computes_in_bf16_and_keeps_float32_weights_and_losses(tiny_config):
    import dataclasses
    from gan.model import GAN
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
