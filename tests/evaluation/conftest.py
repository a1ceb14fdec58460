import numpy as np
import pytest


@pytest.fixture(scope="session")
def chelsea():
    """scikit-image's cat photo (300 x 451), float32 in [0, 1]."""
    data = pytest.importorskip("skimage.data")
    return data.chelsea().astype(np.float32) / 255.0


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's astronaut photo (512 x 512), float32 in [0, 1]."""
    data = pytest.importorskip("skimage.data")
    return data.astronaut().astype(np.float32) / 255.0


@pytest.fixture(scope="session")
def coffee():
    """scikit-image's coffee photo (400 x 600), float32 in [0, 1]."""
    data = pytest.importorskip("skimage.data")
    return data.coffee().astype(np.float32) / 255.0
