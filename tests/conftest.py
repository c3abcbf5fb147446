"""Test set-up: 8 simulated CPU devices, set before jax is imported anywhere."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402

import pytest  # noqa: E402

from llmjax import paths  # noqa: E402

# The tiny command-line run that `trained` makes (tests/test_commands.py documents it).
TINY = ["--config=configs/tiny.py", "--config.train.total_steps=60",
        "--config.train.eval_every=30", "--config.train.log_every=10",
        "--config.train.checkpoint_every=30", "--config.model.vocab_size=512",
        "--config.data.seq_len=64", "--config.model.max_seq_len=96",
        "--config.data.max_val_rows=32"]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
  """Downloads and cleaned corpora go to a temporary folder, never ~/.cache/llmjax."""
  keys = ("LLMJAX_CACHE", "LLMJAX_LEIPZIG_CACHE")
  saved = {k: os.environ.get(k) for k in keys}
  os.environ["LLMJAX_CACHE"] = str(tmp_path_factory.mktemp("llmjax_cache"))
  os.environ.pop("LLMJAX_LEIPZIG_CACHE", None)
  yield
  for k, v in saved.items():
    if v is None:
      os.environ.pop(k, None)
    else:
      os.environ[k] = v


@pytest.fixture(scope="session")
def tatar_fixture_dir(tmp_path_factory) -> pathlib.Path:
  """A small folder of Tatar text the project writes itself (see tests/fixture_text.py)."""
  from tests.fixture_text import write_fixture_corpus
  return write_fixture_corpus(tmp_path_factory.mktemp("tatar_text"))


@pytest.fixture(scope="session")
def shared_train_dir() -> pathlib.Path:
  """The development training corpus (llmjax.paths), skipped where it is absent."""
  found = paths.dev_train_dir()
  if found is None:
    pytest.skip("the development corpus (shared/data/tatar/train) is not present")
  return found.resolve()


@pytest.fixture(scope="session")
def trained(tatar_fixture_dir, tmp_path_factory) -> pathlib.Path:
  """A workdir trained by the command line (`python -m llmjax.train`, 60 steps of the tiny
  config on the fixture corpus), shared by every test that needs a real checkpoint."""
  from tests.helpers import run
  workdir = tmp_path_factory.mktemp("cli_run")
  proc = run("llmjax.train", *TINY, f"--config.workdir={workdir}",
             f"--config.data.text_dir={tatar_fixture_dir}")
  (workdir.parent / f"{workdir.name}.log").write_text(proc.stdout + proc.stderr)
  return workdir


@pytest.fixture
def no_default_text(monkeypatch, tmp_path) -> pathlib.Path:
  """No training text anywhere: no $LLMJAX_TEXT_DIR, no development data, and a Leipzig
  download that cannot connect (a closed local port, so the 'offline' path is taken without
  touching the network). Returns the cache folder used instead of ~/.cache/llmjax."""
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]  # closed when the block ends: connections are refused
  monkeypatch.delenv("LLMJAX_TEXT_DIR", raising=False)
  monkeypatch.delenv("LLMJAX_LEIPZIG_CACHE", raising=False)
  monkeypatch.setenv("LLMJAX_DEV_DATA", "")
  monkeypatch.setenv("LLMJAX_CACHE", str(tmp_path / "llmjax_cache"))
  monkeypatch.setenv("LLMJAX_LEIPZIG_URL", f"http://127.0.0.1:{port}/{{name}}.tar.gz")
  return tmp_path / "llmjax_cache"
