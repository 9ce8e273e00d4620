"""Image classification datasets: the embedded MNIST subset, MNIST and Fashion-MNIST, user .npz files.

Where the standard files are looked for, in order:
1. ``root`` (the config's ``data.root``) or else the ``QUATON_DATA`` environment variable:
   ``<root>/<name>.npz`` (keys ``x_train, y_train, x_test, y_test``), or the four standard IDX
   files (gzipped or not) in ``<root>/<name>/`` or in ``<root>/`` itself;
2. system copies (Debian's ``dataset-fashion-mnist`` under /usr/share/datasets/fashion-mnist);
3. a download of the standard files with pooch into ``<root>/<name>/`` (or the user cache,
   ~/.cache/quaton/<name> on Linux), each checked by pooch against the MD5 of the .gz as served.

Whatever the source, the content is checked against the MD5 of the standard uncompressed IDX files
before it is used (for an .npz: the MD5 of its arrays written as IDX), so that a folder of
Fashion-MNIST files (which share MNIST's file names) is never read as MNIST. A modified copy is
refused by name; give its .npz path as the dataset to use it as one's own data.

``mnist_5k`` is the subset shipped inside the package (quaton.data.embedded), no search or download.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import pooch

from quaton.data.embedded import CLASSES as EMBEDDED_CLASSES
from quaton.data.embedded import load_embedded_arrays
from quaton.data.idx import IDXFormatError, parse_idx, read_idx
from quaton.errors import DataNotFoundError

SPLIT_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


class StandardSpec(TypedDict):
    """Where a standard dataset comes from and how its files are recognised."""

    url: str
    download_md5: dict[str, str]
    md5: dict[str, str]
    system: list[str]
    classes: list[str]


# "md5": of the *uncompressed* standard IDX files, which decide whether local files are the standard
# data (gzip wrappers differ between copies: Debian's .gz files are not the mirror's). "download_md5":
# of the .gz files as the mirror at "url" serves them, checked by pooch while downloading.
STANDARD: dict[str, StandardSpec] = {
    "mnist": {
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "download_md5": {
            "x_train": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "y_train": "d53e105ee54ea40749a09fcbcd1e9432",
            "x_test": "9fb629c4189551a2d022fa330f9573f3",
            "y_test": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "md5": {
            "x_train": "6bbc9ace898e44ae57da46a324031adb",
            "y_train": "a25bea736e30d166cdddb491f175f624",
            "x_test": "2646ac647ad5339dbf082846283269ea",
            "y_test": "27ae3e4e09519cfbb04c329615203637",
        },
        "system": [],
        "classes": [str(i) for i in range(10)],
    },
    "fashion_mnist": {
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "download_md5": {
            "x_train": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "y_train": "25c81989df183df01b3e8a0aad5dffbe",
            "x_test": "bef4ecab320f06d8554ea6380940ec79",
            "y_test": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        "md5": {
            "x_train": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "y_train": "9018921c3c673c538a1fc5bad174d6f9",
            "x_test": "8181f5470baa50b63fa0f6fddb340f0a",
            "y_test": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        "system": ["/usr/share/datasets/fashion-mnist"],
        "classes": [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
    },
}
EMBEDDED = "mnist_5k"
DATASETS = (EMBEDDED, *STANDARD)


@dataclass(frozen=True)
class ImageDataset:
    """Images uint8 [N, h, w] in 0..255 and labels int64 [N], split into train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str = ""  # where the images were read from (a directory or file), for the run's record

    def subset(self, train_size: int | None, test_size: int | None, seed: int) -> ImageDataset:
        """A class-stratified random subset (None keeps everything), reproducible for a seed."""
        rng = np.random.default_rng(seed)
        train = _stratified(self.y_train, train_size, rng)
        test = _stratified(self.y_test, test_size, rng)
        return ImageDataset(
            self.name,
            self.x_train[train],
            self.y_train[train],
            self.x_test[test],
            self.y_test[test],
            self.classes,
            self.source,
        )


def _stratified(labels: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    order = rng.permutation(len(labels))
    classes = np.unique(labels)
    per_class = [order[labels[order] == c] for c in classes]
    # Round-robin over classes keeps the subset balanced as far as each class allows.
    picked: list[int] = []
    depth = 0
    while len(picked) < size:
        for indices in per_class:
            if depth < len(indices) and len(picked) < size:
                picked.append(int(indices[depth]))
        depth += 1
    return np.sort(np.asarray(picked))


def load_embedded_mnist() -> ImageDataset:
    """The 5,000 real MNIST digits shipped with quaton, split 4,000 train / 1,000 test, 400 / 100 per
    class (a fixed split; provenance and licence in quaton.data.embedded)."""
    arrays, source = load_embedded_arrays()
    return ImageDataset(
        EMBEDDED,
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        list(EMBEDDED_CLASSES),
        source,
    )


def load_npz(path: str | Path, name: str | None = None, classes: list[str] | None = None) -> ImageDataset:
    """A dataset from an .npz with keys x_train, y_train, x_test, y_test (no pickles)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in SPLIT_FILES if k not in archive]
            if missing:
                raise DataNotFoundError(f"{path} lacks the arrays {missing}; it needs x_train, y_train, x_test, y_test")
            arrays = {k: archive[k] for k in SPLIT_FILES}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataNotFoundError(f"cannot read {path}: {error}") from None
    return _checked(name or path.stem, arrays, classes, str(path))


def _checked(name: str, arrays: dict[str, np.ndarray], classes: list[str] | None, source: str) -> ImageDataset:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
            raise DataNotFoundError(
                f"{source}: x_{split} must be [N, h, w] and y_{split} [N] with N > 0, got {x.shape} and {y.shape}"
            )
    x_train, x_test = (_to_uint8(arrays[k]) for k in ("x_train", "x_test"))
    y_train, y_test = (arrays[k].astype(np.int64) for k in ("y_train", "y_test"))
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return ImageDataset(name, x_train, y_train, x_test, y_test, classes or [str(i) for i in range(num_classes)], source)


def _to_uint8(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    scaled = images.astype(np.float64)
    if scaled.max() <= 1.0:
        scaled = scaled * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def idx_md5(array: np.ndarray) -> str | None:
    """MD5 of ``array`` written as a uint8 IDX file (what the standard MD5s are of); None when the
    array is not uint8 data (then it cannot be a standard file)."""
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer) or array.size == 0 or array.min() < 0 or array.max() > 255:
            return None
        array = array.astype(np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    digest = hashlib.md5(header)
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _known_content(digest: str | None) -> str | None:
    """'fashion_mnist t10k-images-idx3-ubyte' when ``digest`` is one of the standard files, else None."""
    for name, spec in STANDARD.items():
        for key, expected in spec["md5"].items():
            if digest == expected:
                return f"{name}'s {SPLIT_FILES[key]}"
    return None


def verify_standard(name: str, arrays: dict[str, np.ndarray], files: dict[str, str]) -> None:
    """Raise DataNotFoundError naming the file when ``arrays`` are not exactly the standard ``name`` data.

    ``files`` maps each split key to the file it was read from (for the message).
    """
    expected = STANDARD[name]["md5"]
    for key, array in arrays.items():
        digest = idx_md5(array)
        if digest == expected[key]:
            continue
        known = _known_content(digest)
        what = (
            f"holds {known}"
            if known
            else f"is not the standard {name} {SPLIT_FILES[key]} (MD5 {digest}, expected {expected[key]})"
        )
        raise DataNotFoundError(
            f"{files[key]} {what}, not {name}'s data. Point data.root (or $QUATON_DATA) at a folder with the "
            f"standard {name} files (in <root>/{name}/), or, to train on this data as your own, give the path of an "
            f".npz with x_train, y_train, x_test, y_test as data.dataset"
        )


def _find_idx(directory: Path) -> dict[str, Path] | None:
    found: dict[str, Path] = {}
    for key, stem in SPLIT_FILES.items():
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.exists():
                found[key] = candidate
                break
    return found if len(found) == len(SPLIT_FILES) else None


def data_root(root: str | Path | None) -> Path | None:
    """The data directory: ``root`` if given, else $QUATON_DATA, else None."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("QUATON_DATA")
    return Path(env).expanduser() if env else None


def download_standard(name: str, target: Path, timeout: float = 60.0) -> dict[str, Path]:
    """Download the four standard .gz files of ``name`` into ``target`` with pooch, each checked
    against its known MD5 (a file already there with that MD5 is not fetched again).

    ``timeout``: seconds without an answer before a request is given up.
    """
    spec = STANDARD[name]
    downloader = pooch.HTTPDownloader(progressbar=False, timeout=timeout)
    paths: dict[str, Path] = {}
    for key, stem in SPLIT_FILES.items():
        url = f"{spec['url']}{stem}.gz"
        try:
            fetched = pooch.retrieve(
                url,
                known_hash=f"md5:{spec['download_md5'][key]}",
                fname=f"{stem}.gz",
                path=target,
                downloader=downloader,
            )
        except (OSError, ValueError) as error:  # requests' errors are OSErrors; pooch's checksum mismatch a ValueError
            raise DataNotFoundError(
                f"could not download {name} ({url}: {error}). Put the four standard IDX files "
                f"({', '.join(SPLIT_FILES.values())}, .gz or not) or {name}.npz in a directory and set "
                f"data.root in the config or the QUATON_DATA environment variable to it"
                + (" (on Debian: apt-get install dataset-fashion-mnist)" if name == "fashion_mnist" else "")
            ) from None
        paths[key] = Path(fetched)
    return paths


def load_dataset(name: str, root: str | Path | None = None, download: bool = True) -> ImageDataset:
    """Load a dataset by name (``mnist_5k``, ``mnist``, ``fashion_mnist``) or an .npz by path."""
    if name == EMBEDDED:
        return load_embedded_mnist()
    if name not in STANDARD:
        path = Path(name).expanduser()
        if path.suffix == ".npz":
            if not path.exists():
                raise DataNotFoundError(f"dataset file {path} does not exist")
            return load_npz(path)
        raise DataNotFoundError(f"unknown dataset {name!r}: use one of {list(DATASETS)} or the path of an .npz file")
    spec = STANDARD[name]
    base = data_root(root)
    candidates: list[Path] = []
    if base is not None:
        npz = base / f"{name}.npz"
        if npz.exists():
            dataset = load_npz(npz, name, spec["classes"])
            verify_standard(name, _splits(dataset), {k: f"{npz} (array {k})" for k in SPLIT_FILES})
            return dataset
        candidates += [base / name, base]
    candidates += [Path(p) for p in spec["system"]]
    for directory in candidates:
        files = _find_idx(directory)
        if files is not None:
            try:
                arrays = {k: read_idx(p) for k, p in files.items()}
            except IDXFormatError as error:
                raise DataNotFoundError(str(error)) from error
            verify_standard(name, arrays, {k: str(p) for k, p in files.items()})
            return _checked(name, arrays, spec["classes"], str(directory))
    if not download:
        raise DataNotFoundError(f"{name} not found in {[str(c) for c in candidates]} and download is off")
    target = (base / name) if base is not None else Path(pooch.os_cache("quaton")) / name
    files = download_standard(name, target)
    arrays = {k: read_idx(p) for k, p in files.items()}
    verify_standard(name, arrays, {k: str(p) for k, p in files.items()})
    return _checked(name, arrays, spec["classes"], str(target))


def _splits(dataset: ImageDataset) -> dict[str, np.ndarray]:
    return {key: getattr(dataset, key) for key in SPLIT_FILES}


__all__ = [
    "DATASETS",
    "DataNotFoundError",
    "ImageDataset",
    "idx_md5",
    "load_dataset",
    "load_npz",
    "parse_idx",
    "read_idx",
    "verify_standard",
]
