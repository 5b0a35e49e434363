"""Loading a folder of images into one uint8 array, caching it, and feeding it with tf.data.

Decoding is OpenCV's; the decoded, resized array is cached as a .npy file keyed on the file
list, sizes, modification times and image size, so a second run on the same folder starts in
seconds and any change to the folder invalidates the cache.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from gan.errors import BadImageFolder, ImageNotRead, LooseImages, TooFewClasses, printable

EXTENSIONS = (".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff", ".ppm",
              ".pgm")  # what OpenCV decodes
# Image files OpenCV does not read: skipped with the warning. Other files (notes, licences,
# .DS_Store) are not images and are left alone without a word.
UNREAD_IMAGE_EXTENSIONS = (".gif", ".heic", ".heif", ".avif", ".jp2", ".svg", ".ico", ".psd",
                           ".raw", ".cr2", ".nef", ".arw", ".dng")
# libjpeg's DCT scaling decodes a JPEG at 1/2, 1/4 or 1/8 of its size, in less time and memory.
_REDUCED_JPEG = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                 (2, cv2.IMREAD_REDUCED_COLOR_2))
# The bundled demo set: data/demo-faces beside gan/ in a checkout; `pip install .` puts data/
# into gan/demo_data/ (pyproject.toml).
_INSTALLED_DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_PATH = (_INSTALLED_DATA if _INSTALLED_DATA.is_dir()
             else Path(__file__).resolve().parent.parent / "data") / "demo-faces"


def find_images(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted; BadImageFolder when there are none."""
    return scan_folder(folder)[0]


def scan_folder(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, image files of formats this tool cannot read) under `folder`,
    recursively, each sorted; BadImageFolder when the folder is missing, unreadable or holds
    no image file."""
    if not folder.exists():
        raise BadImageFolder(folder, "no such folder; give a folder of images")
    if not folder.is_dir():
        raise BadImageFolder(folder, "not a folder; give the folder that holds the images")
    try:
        found = _files_under(folder)
    except PermissionError as error:
        raise BadImageFolder(folder, f"cannot read {error.filename} (permission denied); fix "
                                     "its permissions or choose another folder") from None
    files = sorted(p for p in found if p.suffix.lower() in EXTENSIONS)
    if not files:
        raise BadImageFolder(folder, "no image files found (searched recursively for "
                                     f"{' '.join(EXTENSIONS)}); point it at a folder of images")
    return files, sorted(p for p in found if p.suffix.lower() in UNREAD_IMAGE_EXTENSIONS)


def _files_under(folder: Path) -> list[Path]:
    """Every file under `folder`, following symbolic links to folders (a class folder may be
    one) but visiting each real folder once, so a link loop ends."""
    def fail(error: OSError):
        raise error

    seen, found = set(), []
    for root, dirs, files in os.walk(folder, followlinks=True, onerror=fail):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        found += [p for p in (Path(root) / name for name in files) if p.is_file()]
    return found


def read_image(path: Path, img_size: int, channels: int = 3) -> np.ndarray | None:
    """One image as uint8 (img_size, img_size, 3) RGB, or (img_size, img_size, 1) gray with
    channels=1; None if it cannot be decoded.

    Gray becomes RGB, alpha is composited over white, the centre square is cropped, and the
    result resized with INTER_AREA when shrinking and INTER_CUBIC when enlarging. JPEGs are
    turned upright by their EXIF orientation, and decoded at 1/2 to 1/8 scale when still at
    least twice `img_size` (a 12000 x 12000 photo then takes 7 MB, not 432 MB).
    """
    try:
        raw = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode: any path, any bytes
    except OSError:  # unreadable (permissions, vanished)
        return None
    img = cv2.imdecode(raw, _decode_flag(raw, img_size)) if raw.size else None
    if img is None:
        return None
    if img.dtype != np.uint8:  # 16-bit PNGs
        img = (img / 257).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        white = np.full_like(img[..., :3], 255)
        img = (img[..., :3] * alpha + white * (1 - alpha)).round().astype(np.uint8)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > img_size else cv2.INTER_CUBIC
    img = cv2.resize(img, (img_size, img_size), interpolation=interpolation)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None] if channels == 1 else img


def image_files(spec: str) -> list[Path]:
    """The image files `spec` names: every image file under it, recursively and sorted, when
    it is a folder (BadImageFolder when it holds none), else the comma-separated files it
    lists, in their order (ImageNotRead(missing=True) for one that is not there)."""
    folder = Path(spec)
    if folder.is_dir():
        return find_images(folder)
    files = [Path(part.strip()) for part in spec.split(",") if part.strip()]
    for path in files or [folder]:
        if not path.is_file():
            raise ImageNotRead(path, missing=True)
    return files


def read_images(files: list[Path], img_size: int, channels: int = 3) -> np.ndarray:
    """uint8 (len(files), img_size, img_size, channels) by `read_image`, in order. Unlike
    load_image_set, which skips what it cannot decode, raises ImageNotRead for the first such
    file: these are images the user chose one by one."""
    decoded = []
    for path in files:
        image = read_image(path, img_size, channels)
        if image is None:
            raise ImageNotRead(path, missing=False)
        decoded.append(image)
    return np.stack(decoded)


def _decode_flag(raw: np.ndarray, img_size: int) -> int:
    """IMREAD_UNCHANGED keeps alpha and 16 bits but ignores EXIF orientation, which only
    JPEGs carry in practice; those get IMREAD_COLOR, or a reduced decode when large."""
    if raw[:2].tobytes() != b"\xff\xd8":
        return cv2.IMREAD_UNCHANGED
    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings():  # large photos are what this is for
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            header = Image.open(io.BytesIO(raw.tobytes()))  # reads the header only
        with header:
            side = min(header.size)
    except Image.DecompressionBombError:  # over 179 megapixels
        return _REDUCED_JPEG[0][1]
    except (UnidentifiedImageError, OSError, ValueError):
        return cv2.IMREAD_COLOR  # let OpenCV decide whether it is readable
    for factor, flag in _REDUCED_JPEG:
        if side // factor >= 2 * img_size:
            return flag
    return cv2.IMREAD_COLOR


def _cache_key(files: list[Path], img_size: int, channels: int) -> str:
    digest = hashlib.sha256(f"v2 {img_size} {channels}\n".encode())  # v2: EXIF, reduced decoding
    for f in files:
        st = f.stat()
        digest.update(os.fsencode(f.resolve()) + f"\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def load_images(folder: Path, img_size: int, cache_dir: Path | None = None,
                channels: int = 3) -> np.ndarray:
    """All decodable images under `folder` as uint8 (N, img_size, img_size, channels).

    See `load_image_set`, which also returns the names of the files it skipped.
    """
    return load_image_set(folder, img_size, cache_dir, channels)[0]


def load_image_set(folder: Path, img_size: int, cache_dir: Path | None = None,
                   channels: int = 3) -> tuple[np.ndarray, list[str]]:
    """Decodable images (uint8 (N, S, S, channels), RGB or gray) and the paths of the files
    skipped.

    Undecodable files and files of other types are skipped with one warning that counts them
    and names the first few, on every load (the cache remembers the undecodable ones).
    Raises BadImageFolder when the folder is missing or holds no usable image.
    """
    files, others = scan_folder(folder)
    cache = cache_dir / f"images-{_cache_key(files, img_size, channels)}.npy" if cache_dir \
        else None
    cached = _read_cache(cache, img_size, channels) if cache is not None else None
    if cached is not None:
        images, skipped = cached
    else:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # cv2 drops the GIL
            decoded = list(pool.map(lambda f: read_image(f, img_size, channels), files))
        skipped = [printable(str(f)) for f, img in zip(files, decoded) if img is None]
        kept = [img for img in decoded if img is not None]
        if not kept:
            raise nothing_decodable(folder, len(files))
        images = np.stack(kept)
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.with_suffix(".json").write_text(json.dumps({"skipped": skipped}))
                _save_atomically(images, cache)  # last: the .npy marks a complete entry
            except OSError:  # only a speed-up; a read-only or full disk is reported later
                pass
    if skipped or others:
        _warn_skipped(skipped, [printable(str(f)) for f in others], len(files) + len(others))
    return images, skipped + [printable(str(f)) for f in others]


def _read_cache(cache: Path, img_size: int, channels: int
                ) -> tuple[np.ndarray, list[str]] | None:
    """The images and skipped files of a cache entry; None when there is none, or when it is
    damaged (then it is decoded again and rewritten, with a warning)."""
    if not (cache.exists() and cache.with_suffix(".json").exists()):
        return None
    try:
        images = np.load(cache, allow_pickle=False)
        skipped = json.loads(cache.with_suffix(".json").read_bytes())["skipped"]
        if images.dtype != np.uint8 or images.shape[1:] != (img_size, img_size, channels) \
                or not isinstance(skipped, list) or not len(images):
            raise ValueError("another shape")
    except (OSError, ValueError, EOFError, TypeError, KeyError, UnicodeDecodeError):
        print(f"warning: the image cache {printable(str(cache))} is damaged; decoding the "
              "images again", file=sys.stderr)
        return None
    return images, skipped


def load_labelled_set(folder: Path, img_size: int, cache_dir: Path | None = None,
                      channels: int = 3) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """For --conditional: load_image_set's images and skipped files, plus int32 (N,) labels
    and the class names they index: the immediate subfolders of `folder` that hold images,
    sorted. Raises LooseImages when an image lies directly in `folder`, TooFewClasses when
    there are fewer than two classes.
    """
    images, skipped = load_image_set(folder, img_size, cache_dir, channels)
    not_loaded = set(skipped)
    kept = [f for f in scan_folder(folder)[0] if printable(str(f)) not in not_loaded]
    loose = [f for f in kept if f.parent == folder]
    if loose:
        raise LooseImages(folder, len(loose), loose[0].name)
    names = [f.relative_to(folder).parts[0] for f in kept]
    classes = sorted(set(names))
    if len(classes) < 2:
        raise TooFewClasses(folder, len(classes))
    index = {name: i for i, name in enumerate(classes)}
    return images, np.array([index[n] for n in names], np.int32), classes, skipped


def nothing_decodable(folder: Path, count: int) -> BadImageFolder:
    """The error for a folder whose `count` image files all fail to decode."""
    return BadImageFolder(folder, f"none of its image files could be decoded ({count} tried); "
                                  f"check that they are valid images ({' '.join(EXTENSIONS)})")


def _warn_skipped(undecodable: list[str], others: list[str], total: int) -> None:
    def first(paths: list[str]) -> str:
        return ", ".join(Path(f).name for f in paths[:3]) + (", ..." if len(paths) > 3 else "")
    parts = [f"{len(undecodable)} could not be decoded as images ({first(undecodable)})"
             ] if undecodable else []
    parts += [f"{len(others)} are in formats this tool cannot read ({first(others)})"
              ] if others else []
    print(f"warning: skipped {len(undecodable) + len(others)} of {total} files: "
          + "; ".join(parts), file=sys.stderr)


def _save_atomically(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def epoch_order(n: int, seed: int, epoch: int, flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """The shuffled indices (int64, n) and horizontal-flip flags (bool, n) of one epoch.

    A pure function of (seed, epoch), so a resumed run sees exactly the same batches.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)
    return order, flips


def epoch_latents(n: int, latent_dim: int, seed: int, epoch: int) -> np.ndarray:
    """The generator's inputs for one epoch, float32 (n, latent_dim) from N(0, 1).

    Drawn on the host as a pure function of (seed, epoch), like the data order: a resumed
    run, and a run split over any number of replicas, sees the same latents.
    """
    rng = np.random.default_rng([seed, epoch, 1])
    return rng.standard_normal((n, latent_dim), dtype=np.float32)


def effective_batch_size(num_images: int, batch_size: int) -> int:
    """The batch size used: `batch_size`, or all images when there are fewer."""
    return min(num_images, batch_size)


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return num_images // effective_batch_size(num_images, batch_size)


def epoch_dataset(images, batch_size: int, latent_dim: int, seed: int, epoch: int, flip: bool,
                  skip_batches: int = 0, labels=None):
    """tf.data pipeline over one epoch of (real, latents) batches, or (real, latents,
    labels) when `labels` is given.

    real: float32 (B, S, S, 3) in [-1, 1]; latents: float32 (B, latent_dim) from N(0, 1);
    labels: int32 (B,), the real images' classes, which the fakes of the batch are also asked
    for. `images` is a uint8 tf.Tensor (N, S, S, 3) that stays in memory, `labels` an int32
    tf.Tensor (N,). Every batch has
    `effective_batch_size(N, batch_size)` images: the incomplete last one is dropped (a
    different remainder each epoch), so compiled steps see one shape. `skip_batches` resumes
    in the middle of an epoch.
    """
    import tensorflow as tf

    n = int(images.shape[0])
    order, flips = epoch_order(n, seed, epoch, flip)
    latents = epoch_latents(n, latent_dim, seed, epoch)

    def gather(idx, flip_mask, z):
        x = tf.cast(tf.gather(images, idx), tf.float32) / 127.5 - 1.0
        real = tf.where(flip_mask[:, None, None, None], tf.reverse(x, axis=[2]), x)
        return (real, z) if labels is None else (real, z, tf.gather(labels, idx))

    ds = tf.data.Dataset.from_tensor_slices((order, flips, latents)).batch(
        effective_batch_size(n, batch_size), drop_remainder=True)
    # Autotuning off: deleting an autotuned iterator at the end of each epoch stalled up to
    # 4.8 s (measured, TF 2.21), and a gather from memory needs no tuning: one batch ahead.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.skip(skip_batches).map(gather).prefetch(1).with_options(options)
