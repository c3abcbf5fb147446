"""llmjax.paths: where data lives (environment, then defaults, then the development folder),
and atomic writes that never leave a half-written file or folder behind."""

import os
import pathlib

import pytest

from llmjax import paths
from llmjax.errors import DataError


def _leftovers(folder: pathlib.Path) -> list[str]:
  return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name or ".old" in p.name)


# --- atomic files ----------------------------------------------------------------------------

def test_atomic_writes_round_trip(tmp_path):
  assert paths.atomic_write_lines(tmp_path / "a" / "l.txt", (f"line {i}" for i in range(3))) == 3
  assert (tmp_path / "a" / "l.txt").read_text() == "line 0\nline 1\nline 2\n"
  paths.atomic_write_text(tmp_path / "t.txt", "Казан\n")
  assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "Казан\n"
  paths.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
  assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
  umask = os.umask(0)
  os.umask(umask)
  for name in ("a/l.txt", "t.txt", "b.bin"):  # the usual permissions, not mkstemp's 0600
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
  assert _leftovers(tmp_path) == []


def test_atomic_write_lines_failing_midway_leaves_the_old_file(tmp_path):
  target = tmp_path / "out.txt"
  target.write_text("old\n")

  def lines():
    yield "new 1"
    raise RuntimeError("the producer failed")

  with pytest.raises(RuntimeError, match="producer failed"):
    paths.atomic_write_lines(target, lines())
  assert target.read_text() == "old\n" and _leftovers(tmp_path) == []
  with pytest.raises(RuntimeError):
    paths.atomic_write_lines(tmp_path / "fresh.txt", lines())
  assert not (tmp_path / "fresh.txt").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("write", [
    lambda p: paths.atomic_write_bytes(p, b"new"),
    lambda p: paths.atomic_write_text(p, "new"),
    lambda p: paths.atomic_write_lines(p, ["new"]),
], ids=["bytes", "text", "lines"])
def test_disk_errors_are_one_data_error_and_leave_no_temp_file(write, tmp_path, monkeypatch):
  target = tmp_path / "f.txt"
  target.write_text("old")

  def disk_full(fd):
    raise OSError(28, "No space left on device")

  with monkeypatch.context() as m:
    m.setattr(os, "fsync", disk_full)
    with pytest.raises(DataError, match=r"cannot write '.*f\.txt': No space left"):
      write(target)
  assert target.read_text() == "old" and _leftovers(tmp_path) == []
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(DataError, match="cannot write"):
    write(blocker / "sub" / "f.txt")  # the parent is a file
  write(target)
  assert target.read_text().strip() == "new"


# --- atomic folders --------------------------------------------------------------------------

def test_atomic_directory_appears_whole(tmp_path):
  target = tmp_path / "set"
  with paths.atomic_directory(target) as tmp:
    assert tmp.is_dir() and tmp.parent == tmp_path and not target.exists()
    (tmp / "a.npy").write_bytes(b"1")
  assert target.is_dir() and (target / "a.npy").read_bytes() == b"1"
  assert _leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["set"]
  (tmp_path / "empty").mkdir()  # an empty folder may be filled
  with paths.atomic_directory(tmp_path / "empty") as tmp:
    (tmp / "x").write_text("x")
  assert (tmp_path / "empty" / "x").read_text() == "x"


def test_atomic_directory_failure_leaves_nothing(tmp_path):
  with pytest.raises(RuntimeError, match="interrupted"):
    with paths.atomic_directory(tmp_path / "set") as tmp:
      (tmp / "half.npy").write_bytes(b"1")
      raise RuntimeError("interrupted")
  assert list(tmp_path.iterdir()) == []
  with pytest.raises(KeyboardInterrupt):
    with paths.atomic_directory(tmp_path / "set") as tmp:
      (tmp / "half.npy").write_bytes(b"1")
      raise KeyboardInterrupt
  assert list(tmp_path.iterdir()) == []


def test_atomic_directory_refuses_a_non_empty_target(tmp_path):
  (tmp_path / "set").mkdir()
  (tmp_path / "set" / "keep").write_text("keep me")
  with pytest.raises(DataError, match="exists and is not empty"):
    with paths.atomic_directory(tmp_path / "set"):
      pass
  assert (tmp_path / "set" / "keep").read_text() == "keep me"
  (tmp_path / "file").write_text("x")
  with pytest.raises(DataError, match="exists and is not empty"):
    with paths.atomic_directory(tmp_path / "file"):
      pass


def test_atomic_directory_replace(tmp_path):
  (tmp_path / "set").mkdir()
  (tmp_path / "set" / "old").write_text("old")
  with paths.atomic_directory(tmp_path / "set", replace=True) as tmp:
    (tmp / "new").write_text("new")
  assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["new"]
  assert _leftovers(tmp_path) == []


# --- where data lives ------------------------------------------------------------------------

def test_eval_dir_resolution(tmp_path, monkeypatch):
  monkeypatch.setenv("LLMJAX_EVAL_DIR", str(tmp_path / "evals"))
  assert paths.eval_dir() == tmp_path / "evals"
  assert paths.eval_path(paths.FLORES_DEV) == tmp_path / "evals" / "flores200" / "tat_Cyrl.dev"
  with pytest.raises(DataError, match="LLMJAX_EVAL_DIR"):
    paths.require_eval(paths.FLORES_DEV)
  (tmp_path / "evals" / "flores200").mkdir(parents=True)
  (tmp_path / "evals" / "flores200" / "tat_Cyrl.dev").write_text("x\n")
  assert paths.require_eval(paths.FLORES_DEV).is_file()
  # No variable: the development folder's evaluation sets, else none.
  monkeypatch.delenv("LLMJAX_EVAL_DIR")
  dev = tmp_path / "dev"
  (dev / "tatar" / "eval").mkdir(parents=True)
  monkeypatch.setenv("LLMJAX_DEV_DATA", str(dev))
  assert paths.eval_dir() == dev / "tatar" / "eval"
  monkeypatch.setenv("LLMJAX_DEV_DATA", "")
  assert paths.eval_dir() is None
  assert str(paths.eval_path("sib200")).startswith("$LLMJAX_EVAL_DIR")
  with pytest.raises(DataError, match="set LLMJAX_EVAL_DIR"):
    paths.require_eval("sib200")


def test_development_folders(tmp_path, monkeypatch):
  monkeypatch.setenv("LLMJAX_DEV_DATA", str(tmp_path))
  assert paths.dev_data_dir() == tmp_path
  assert paths.dev_train_dir() is None and paths.labelled_mix_dir() is None
  (tmp_path / "tatar" / "train").mkdir(parents=True)
  (tmp_path / "other_languages").mkdir()
  assert paths.dev_train_dir() == tmp_path / "tatar" / "train"
  assert paths.labelled_mix_dir() == tmp_path
  monkeypatch.setenv("LLMJAX_DEV_DATA", "")  # pretend there is none
  assert paths.dev_data_dir() is None and paths.dev_train_dir() is None
  monkeypatch.setenv("LLMJAX_DEV_DATA", str(tmp_path / "missing"))
  assert paths.dev_data_dir() is None


def test_cache_and_download_locations(tmp_path, monkeypatch):
  monkeypatch.setenv("LLMJAX_CACHE", str(tmp_path / "c"))
  monkeypatch.delenv("LLMJAX_LEIPZIG_CACHE", raising=False)
  monkeypatch.delenv("LLMJAX_LEIPZIG_URL", raising=False)
  assert paths.cache_dir() == tmp_path / "c"
  assert paths.leipzig_cache() == tmp_path / "c" / "leipzig"
  assert paths.leipzig_url() == paths.LEIPZIG_URL and "{name}" in paths.LEIPZIG_URL
  monkeypatch.setenv("LLMJAX_LEIPZIG_CACHE", str(tmp_path / "l"))
  monkeypatch.setenv("LLMJAX_LEIPZIG_URL", "http://127.0.0.1:1/{name}.tar.gz")
  assert paths.leipzig_cache() == tmp_path / "l"
  assert paths.leipzig_url() == "http://127.0.0.1:1/{name}.tar.gz"
  monkeypatch.setenv("LLMJAX_TEXT_DIR", "/data/tt")
  assert paths.env_text_dir() == "/data/tt"
  monkeypatch.delenv("LLMJAX_TEXT_DIR")
  assert paths.env_text_dir() == ""
  monkeypatch.delenv("LLMJAX_CACHE")
  assert paths.cache_dir() == pathlib.Path.home() / ".cache" / "llmjax"
