"""Design rules of the GDSII masks, checked by KLayout on the written file (issue 27): minimum width,
minimum space, and areas that touch only at a corner, each violation reported by its place in µm.

The designs are 2-level layers (one mask; level 1 is etched, (−1) mod 2 = 1) and 4-level stripes, on a
1 µm pitch: pixel (r, c) of an N × N layer is x ∈ [c, c + 1] µm, y ∈ [N − 1 − r, N − r] µm."""

import json
import math

import numpy as np
import pytest

import quaton.export.gds as gds
from quaton.export.gds import GDSError, write_gds

PITCH, VACUUM, INDEX = 1e-6, 532e-9, 1.46


def written_checks(tmp_path, open_pixels: np.ndarray, min_feature=None, min_gap=None, levels=2):
    """masks.json's DRC entries of a one-layer design whose (single, 2-level) mask is ``open_pixels``."""
    phase = open_pixels.astype(np.float64) * 2 * math.pi / levels
    write_gds(tmp_path, [phase], [{"levels": levels}], PITCH, VACUUM, INDEX, 1.0, min_feature, min_gap)
    return [m["drc"] for m in json.loads((tmp_path / "masks.json").read_text())["layers"][0]["masks"]]


def test_two_squares_touching_at_a_corner_are_flagged_there(tmp_path):
    """A checkerboard diagonal: the run-length check along rows and columns never saw it."""
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:8, 4:8] = True  # x 4..8 µm, y 8..12 µm
    mask[8:12, 8:12] = True  # x 8..12 µm, y 4..8 µm: the two meet at (8, 8) µm only
    (check,) = written_checks(tmp_path, mask)
    assert check["corner_touches"] == 1
    (place,) = check["locations"]["corner_touch"]
    assert (place["x_um"], place["y_um"]) == pytest.approx((8.0, 8.0))
    assert check["checker"].startswith("KLayout")
    # 4 µm squares with a 2 µm rule: the touch is the only violation, counted once
    (check,) = written_checks(tmp_path, mask, 2e-6, 2e-6)
    assert (check["width_violations"], check["space_violations"], check["corner_touches"]) == (0, 0, 1)


def test_the_same_squares_one_pixel_apart_do_not_touch(tmp_path):
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:8, 4:8] = True
    mask[9:13, 9:13] = True  # a diagonal gap of √2 µm
    (check,) = written_checks(tmp_path, mask, 1e-6, 1e-6)
    assert check["corner_touches"] == 0 and check["width_violations"] == 0 and check["space_violations"] == 0
    (check,) = written_checks(tmp_path, mask, 1e-6, 2e-6)  # but √2 µm is below a 2 µm space, measured diagonally
    assert check["space_violations"] > 0
    assert all(abs(p["x_um"] - 8.5) < 1 and abs(p["y_um"] - 7.5) < 1 for p in check["locations"]["space"])


def test_a_one_pixel_line_under_the_minimum_width_is_flagged_at_its_place(tmp_path):
    mask = np.zeros((16, 16), dtype=bool)
    mask[2:10, 5] = True  # a line 1 µm wide: x 5..6 µm, y 6..14 µm
    mask[2:10, 9:13] = True  # 4 µm wide, 3 µm away: within the rules
    (check,) = written_checks(tmp_path, mask, 2e-6, 2e-6)
    assert check["width_violations"] > 0 and check["space_violations"] == 0 and check["corner_touches"] == 0
    for place in check["locations"]["width"]:
        assert 5 <= place["x_um"] <= 6 and 6 <= place["y_um"] <= 14
        assert place["distance_um"] == pytest.approx(1.0)
        x0, y0, x1, y1 = place["box_um"]
        assert 5 <= x0 <= x1 <= 6 and 6 <= y0 <= y1 <= 14


def test_a_clean_design_passes_every_rule_on_every_mask(tmp_path):
    """4-level stripes 8 px wide: etched levels 0, 3, 2, 1 make masks of 16 px and 8 px stripes."""
    levels = np.tile((np.arange(32) // 8) % 4, (32, 1))
    checks = written_checks(tmp_path, levels, 4e-6, 4e-6, levels=4)
    assert len(checks) == 2
    for check in checks:
        assert (check["width_violations"], check["space_violations"], check["corner_touches"]) == (0, 0, 0)
        assert check["locations"] == {"width": [], "space": [], "corner_touch": []}


def test_without_klayout_a_requested_check_is_refused_and_none_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(gds, "klayout_available", lambda: False)
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:4, 2:4] = True
    with pytest.raises(GDSError, match=r"pip install 'quaton\[klayout\]'"):
        written_checks(tmp_path, mask, 2e-6, None)
    assert not (tmp_path / "masks.gds").exists()  # refused before anything was written
    assert written_checks(tmp_path, mask) == [None]
    assert "quaton[klayout]" in json.loads((tmp_path / "masks.json").read_text())["drc_note"]


def test_every_violation_is_in_klayouts_report_database_and_masks_json_lists_the_first(tmp_path, monkeypatch):
    """A checkerboard of single pixels: 7 × 7 inner corners touch; masks.json lists 5, the .lyrdb has all."""
    import klayout.rdb as rdb

    monkeypatch.setattr(gds, "LISTED_VIOLATIONS", 5)
    mask = (np.add.outer(np.arange(8), np.arange(8)) % 2).astype(bool)
    (check,) = written_checks(tmp_path, mask, 2e-6, None)
    assert check["corner_touches"] == 49 and len(check["locations"]["corner_touch"]) == 5
    assert check["width_violations"] > 5 and len(check["locations"]["width"]) == 5
    sidecar = json.loads((tmp_path / "masks.json").read_text())
    assert sidecar["drc_report"].startswith("masks_drc.lyrdb")
    report = rdb.ReportDatabase("")
    report.load(str(tmp_path / "masks_drc.lyrdb"))
    per_category = {c.name(): c.num_items() for c in report.each_category()}
    assert per_category == {
        "GDS layer 11: width below 2 um": check["width_violations"],
        "GDS layer 11: corner touching": 49,
    }
