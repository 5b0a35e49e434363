"""Spectral normalisation of a layer's kernel (Miyato et al. 2018, arXiv:1802.05957).

keras.layers.SpectralNormalization with two changes, both measured:
- no `ops.cond` around the update: Keras guards against an all-zero kernel with one, and
  under the GAN step's persistent gradient tape every such cond is traced into forward and
  backward functions; with a residual D's 17 normalised layers, called several times in each
  of three compiled steps, tracing took about 2 minutes instead of seconds. Kernels here
  start random, never all zero.
- the update runs in float32 (the wrapper's own dtype policy): under mixed bfloat16 Keras
  computes the normalised kernel in bfloat16 and writes it back into the float32 kernel,
  rounding away Adam's small updates. The wrapped layer still computes in its own policy.

As in Keras (and TF-Addons before it), each training call runs one power iteration and
writes W / sigma(W) into the kernel; G's gradients are taken through the normalised kernel.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="gan")
class SpectralNorm(keras.layers.SpectralNormalization):
    """Wraps a layer with a `kernel` (Conv2D, Dense); input and output shapes are the
    wrapped layer's, the output in the input's dtype."""

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **{"dtype": "float32", **kwargs})

    def call(self, inputs, training=False):
        if training:
            vector_u, kernel = self.normalized_weights()
            self.vector_u.assign(vector_u)
            self.kernel.assign(kernel)
        return ops.cast(self.layer(inputs), inputs.dtype)
