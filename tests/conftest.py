"""Test set-up: 8 simulated CPU devices, set before jax is imported anywhere."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402

import pytest  # noqa: E402

SHARED_TRAIN = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tatar" / "train"


@pytest.fixture(scope="session")
def tatar_fixture_dir(tmp_path_factory) -> pathlib.Path:
  """A small folder of Tatar text the project writes itself (see tests/fixture_text.py)."""
  from tests.fixture_text import write_fixture_corpus
  return write_fixture_corpus(tmp_path_factory.mktemp("tatar_text"))


@pytest.fixture(scope="session")
def shared_train_dir() -> pathlib.Path:
  if not SHARED_TRAIN.is_dir():
    pytest.skip("../shared/data/tatar/train not present")
  return SHARED_TRAIN.resolve()
