"""Reading text folders (one document per line), splitting and hashing documents."""

import os
import subprocess
import sys

import pytest

from llmjax.corpus.text import (corpus_sha256, iter_lines, list_text_files, read_documents,
                                read_lines, split_documents, training_split)
from llmjax.errors import DataError


def test_fixture_files_read_recursively(tatar_fixture_dir):
  files = list_text_files(tatar_fixture_dir)
  assert len(files) == 3 and files == sorted(files)
  assert any(f.parent != tatar_fixture_dir for f in files)  # the nested one
  docs = read_documents(tatar_fixture_dir)
  assert len(docs) == sum(len(read_lines(f)) for f in files) >= 1500
  text = "".join(docs)
  assert all(ch in text for ch in "әөүҗңһ")


def test_lines_are_stripped_and_blank_lines_skipped(tmp_path):
  (tmp_path / "sub" / "deeper").mkdir(parents=True)
  (tmp_path / "b.txt").write_bytes("  Сәлам, дөнья!  \r\n\r\n   \nИкенче юл\n".encode())
  (tmp_path / "sub" / "deeper" / "a.txt").write_text("Өченче\n", encoding="utf-8")
  (tmp_path / "notes.md").write_text("not text\n", encoding="utf-8")
  assert read_documents(tmp_path) == ["Сәлам, дөнья!", "Икенче юл", "Өченче"]
  assert read_lines(tmp_path / "b.txt") == ["Сәлам, дөнья!", "Икенче юл"]


def test_non_utf8_file_names_file_and_line(tmp_path):
  (tmp_path / "good.txt").write_text("Казан\n", encoding="utf-8")
  (tmp_path / "bad.txt").write_bytes("Казан\n".encode() + "Идел\n".encode("cp1251"))
  with pytest.raises(DataError, match=r"bad\.txt:2: not valid UTF-8"):
    read_documents(tmp_path)
  with pytest.raises(DataError, match=r"bad\.txt"):
    read_lines(tmp_path / "bad.txt")


def test_missing_or_empty_folders(tmp_path):
  with pytest.raises(DataError, match="LLMJAX_TEXT_DIR"):
    list_text_files(tmp_path / "nope")
  with pytest.raises(DataError, match="--config.data.text_dir"):
    read_documents(tmp_path)  # exists, but no *.txt
  (tmp_path / "blank.txt").write_text("\n  \n\n", encoding="utf-8")
  with pytest.raises(DataError, match="no non-empty lines"):
    read_documents(tmp_path)
  with pytest.raises(DataError, match="blank.txt"):
    read_lines(tmp_path / "blank.txt")


def test_split_is_deterministic_and_keeps_duplicates_together():
  docs = [f"Документ {i % 700}" for i in range(2000)]  # every doc appears ~3 times
  train, val = split_documents(docs, 0.1)
  assert (train, val) == split_documents(docs, 0.1)
  assert not set(train) & set(val)
  assert len(train) + len(val) == len(docs)
  assert 0.05 < len(val) / len(docs) < 0.15
  assert train == [d for d in docs if d in set(train)]  # order preserved


def test_split_independent_of_python_hash_seed():
  code = ("from llmjax.corpus.text import split_documents;"
          "print(split_documents([f'doc {i}' for i in range(200)], 0.2)[1])")
  outs = set()
  for seed in ("1", "2"):
    env = dict(os.environ, PYTHONHASHSEED=seed)
    outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True, cwd=os.getcwd()).stdout)
  assert len(outs) == 1


def test_iter_lines_reports_or_raises_bad_utf8(tmp_path):
  path = tmp_path / "mixed.txt"
  path.write_bytes("  Казан \n\n".encode() + "Идел\n".encode("cp1251") + "Чаллы\r\n".encode())
  bad = []
  assert list(iter_lines(path, bad.append)) == ["Казан", "Чаллы"]
  assert len(bad) == 1 and "mixed.txt:3: not valid UTF-8" in bad[0]
  with pytest.raises(DataError, match=r"mixed\.txt:3: not valid UTF-8"):
    list(iter_lines(path))
  with pytest.raises(DataError, match="cannot read"):
    list(iter_lines(tmp_path / "missing.txt"))


def test_training_split_and_corpus_hash(tatar_fixture_dir):
  docs = read_documents(tatar_fixture_dir)
  train, val = split_documents(docs, 0.1)
  assert training_split(tatar_fixture_dir, 0.1) == train and val
  h = corpus_sha256(train)
  assert len(h) == 64 and h == corpus_sha256(list(train))
  assert h != corpus_sha256(train[:-1]) and h != corpus_sha256(train[1:] + train[:1])
  assert corpus_sha256(["ab", "c"]) != corpus_sha256(["a", "bc"])  # documents, not just text
