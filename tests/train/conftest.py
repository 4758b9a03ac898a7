import pytest

from cnnzoo.data import DataBundle, load_data


@pytest.fixture(scope="session")
def digits_small() -> DataBundle:
    """Stratified 200-image subsets (each split) of the embedded digits at LeNet-5's 32x32."""
    return load_data("digits", limit=200)
