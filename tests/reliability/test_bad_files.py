"""Bad files meet one clear error; no file quaton reads can run code; reports escape what they show."""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from quaton.data import DataNotFoundError, load_dataset
from quaton.errors import RunDirError
from quaton.export import DesignError, load
from quaton.report import write_html
from quaton.runs import load_checkpoint, write_json

MARKER = Path("/tmp/quaton-pwned-marker")


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def test_a_malicious_pickle_checkpoint_is_refused_and_runs_nothing(tmp_path):
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": Exploit()}, path)  # torch.save pickles: the file would run code on a plain load
    with pytest.raises(RunDirError, match="corrupt or not a quaton checkpoint"):
        load_checkpoint(path)
    assert not MARKER.exists()


def test_pickled_npy_and_npz_are_refused(tmp_path):
    MARKER.unlink(missing_ok=True)
    np.save(tmp_path / "evil.npy", np.array([Exploit()], dtype=object), allow_pickle=True)
    with pytest.raises(DataNotFoundError):
        from quaton.data.phase_objects import load_phase_maps

        load_phase_maps(tmp_path / "evil.npy")
    np.savez(tmp_path / "evil.npz", x_train=np.array([Exploit()], dtype=object), y_train=[0], x_test=[0], y_test=[0])
    with pytest.raises(DataNotFoundError):
        load_dataset(str(tmp_path / "evil.npz"))
    assert not MARKER.exists()


def test_truncated_npz_and_checkpoint_name_the_file(tmp_path):
    np.savez(
        tmp_path / "data.npz",
        x_train=np.zeros((4, 8, 8), np.uint8),
        y_train=np.zeros(4),
        x_test=np.zeros((2, 8, 8), np.uint8),
        y_test=np.zeros(2),
    )
    data = (tmp_path / "data.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataNotFoundError, match="cut.npz"):
        load_dataset(str(tmp_path / "cut.npz"))
    torch.save({"model": {"w": torch.zeros(100)}}, tmp_path / "c.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "c.pt").read_bytes()[:200])
    with pytest.raises(RunDirError, match="cut.pt"):
        load_checkpoint(tmp_path / "cut.pt")


def test_design_paths_outside_the_directory_are_refused(tmp_path):
    design = {
        "format": "quaton-design",
        "version": 1,
        "wavelength": 5e-7,
        "pitch": 1e-6,
        "grid": [4, 4],
        "propagation": {"method": "asm", "pad_factor": 2.0, "padded_grid": [8, 8]},
        "distances": [1e-5, 1e-5],
        "layers": [{"kind": "phase", "file": "../../etc/passwd", "levels": None}],
        "input": {},
        "detector": {"regions": []},
    }
    (tmp_path / "design.json").write_text(json.dumps(design))
    with pytest.raises(DesignError, match="outside the design directory"):
        load(tmp_path)
    design["layers"][0]["file"] = "layer.npy"
    (tmp_path / "design.json").write_text(json.dumps(design))
    np.save(tmp_path / "layer.npy", np.full((4, 4), np.nan))
    with pytest.raises(DesignError, match="finite"):
        load(tmp_path)
    np.save(tmp_path / "layer.npy", np.zeros((4, 4), dtype=np.int32))
    with pytest.raises(DesignError, match="finite floats"):
        load(tmp_path)
    (tmp_path / "layer.npy").unlink()
    with pytest.raises(DesignError, match="cannot read"):
        load(tmp_path)


def test_disk_full_during_a_write_keeps_what_was_written(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json(path, {"test_accuracy": 0.9})
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle, mode):
            self.stream = real_fdopen(handle, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("quaton.runs.os.fdopen", FullDisk)
    with pytest.raises(OSError, match="No space left"):
        write_json(path, {"test_accuracy": 0.1})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"test_accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_reports_escape_what_they_show(tmp_path):
    write_html(tmp_path / "report.html", "<script>alert(1)</script>", [("<b>x</b>", "ok")])
    page = (tmp_path / "report.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
