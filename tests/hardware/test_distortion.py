"""Read-out distortions: crosstalk conserves energy on the whole sensor, its border included."""

import pytest
import torch

from quaton.hardware import Crosstalk


@pytest.mark.parametrize("coupling", [0.05, 0.1, 0.25])
def test_crosstalk_conserves_energy_at_the_sensor_border(coupling):
    """Light is redistributed between pixels, none is lost: with zero padding a border pixel sent
    a share `coupling` off the sensor per missing neighbour (a bright edge lost 10 % per edge at 0.1)."""
    image = torch.rand(3, 9, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    image[:, 0, :] += 5.0  # a bright border
    blurred = Crosstalk(coupling).double()(image, torch.tensor(1.0))
    assert torch.allclose(blurred.sum(dim=(-2, -1)), image.sum(dim=(-2, -1)), rtol=1e-6)  # the kernel is float32


def test_crosstalk_from_a_corner_and_an_edge_pixel():
    """A corner pixel keeps 1 − 2c and sends c to its two neighbours; an edge pixel keeps 1 − 3c;
    an inner one keeps 1 − 4c."""
    c = 0.1
    crosstalk = Crosstalk(c).double()
    for (row, col), kept, neighbours in [((0, 0), 1 - 2 * c, 2), ((0, 2), 1 - 3 * c, 3), ((2, 2), 1 - 4 * c, 4)]:
        point = torch.zeros(1, 5, 5, dtype=torch.float64)
        point[0, row, col] = 1.0
        spread = crosstalk(point, torch.tensor(1.0))[0]
        assert spread[row, col].item() == pytest.approx(kept)
        assert (spread > 0).sum().item() == 1 + neighbours and spread.sum().item() == pytest.approx(1.0)
