"""The cleaning pipeline (llmjax.corpus.cleaning) end to end, and its command
(python -m llmjax.corpus.clean)."""

import json
import subprocess
import sys

import pytest

from llmjax.corpus import cleaning
from llmjax.errors import DataError
from tests.corpus.samples import TATAR, write_corpus
from tests.helpers import REPO


def test_clean_pipeline_end_to_end(tmp_path):
  src = write_corpus(tmp_path)
  stats = cleaning.run(src, tmp_path / "out", eval_dir=tmp_path / "eval")
  a = (tmp_path / "out" / "a.txt").read_text(encoding="utf-8").splitlines()
  b = (tmp_path / "out" / "web" / "b.txt").read_text(encoding="utf-8").splitlines()
  assert a == TATAR[:4]
  assert b == [TATAR[4]]
  assert (tmp_path / "out" / "empty.txt").read_text() == ""
  removed = stats["totals"]["removed"]
  assert {k: v["lines"] for k, v in removed.items()} == {
      "lang_rus": 2, "exact_dup": 1, "too_short": 1, "lang_bak": 1, "invalid_utf8": 1,
      "eval_overlap": 1, "near_dup": 1}
  assert stats["totals"]["input"]["lines"] == 13 and stats["totals"]["output"]["lines"] == 5
  assert "b.txt:3: not valid UTF-8" in stats["invalid_utf8"][0]
  on_disk = json.loads((tmp_path / "out" / cleaning.STATS_FILE).read_text(encoding="utf-8"))
  assert on_disk["totals"] == stats["totals"]
  left = cleaning.after_steps(stats["sources"]["a.txt"])
  assert [left[s]["lines"] for s in cleaning.STEPS] == [7, 7, 7, 6, 5, 5, 4, 4]
  assert left["near_dup"]["chars"] == stats["sources"]["a.txt"]["output"]["chars"]


def test_clean_is_deterministic_idempotent_and_parallel_safe(tmp_path):
  src = write_corpus(tmp_path)
  cleaning.run(src, tmp_path / "o1", eval_dir=tmp_path / "eval")
  cleaning.run(src, tmp_path / "o2", eval_dir=tmp_path / "eval", workers=2)
  cleaning.run(src, tmp_path / "o1", eval_dir=tmp_path / "eval")  # rerun over its own output
  files = sorted(p.relative_to(tmp_path / "o1") for p in (tmp_path / "o1").rglob("*.txt"))
  for f in files:
    assert (tmp_path / "o1" / f).read_bytes() == (tmp_path / "o2" / f).read_bytes()
  again = cleaning.run(tmp_path / "o1", tmp_path / "o3", eval_dir=tmp_path / "eval")
  assert again["totals"]["removed"] == {}  # cleaning cleaned text removes nothing
  for f in files:
    assert (tmp_path / "o3" / f).read_bytes() == (tmp_path / "o1" / f).read_bytes()
  assert not list(tmp_path.rglob("*.tmp"))


def test_clean_bad_input(tmp_path):
  src = write_corpus(tmp_path)
  with pytest.raises(DataError, match=r"b.txt:3: not valid UTF-8"):
    cleaning.run(src, tmp_path / "o", cleaning.CleanConfig(strict_utf8=True), eval_dir=None)
  assert not (tmp_path / "o" / "web" / "b.txt").exists()  # nothing half-written
  assert not list((tmp_path / "o").rglob("*.tmp"))
  (tmp_path / "blank").mkdir()
  (tmp_path / "blank" / "e.txt").write_text("\n\n")
  with pytest.raises(DataError, match="no non-empty lines"):
    cleaning.run(tmp_path / "blank", tmp_path / "o4", eval_dir=None)
  with pytest.raises(DataError, match="must lie outside"):
    cleaning.run(src, src / "cleaned", eval_dir=None)
  with pytest.raises(DataError, match="eval folder"):
    cleaning.run(src, tmp_path / "o5", eval_dir=tmp_path / "nope")
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(DataError, match="cannot write"):
    cleaning.run(src, blocker / "sub", eval_dir=None)


def test_clean_cli(tmp_path):
  src = write_corpus(tmp_path)
  cmd = [sys.executable, "-m", "llmjax.corpus.clean", f"--text_dir={src}",
         f"--out={tmp_path / 'o'}", f"--eval_dir={tmp_path / 'eval'}"]
  res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
  assert res.returncode == 0, res.stderr
  summary = json.loads(res.stdout)
  assert summary["input_lines"] == 13 and summary["output_lines"] == 5
  assert "skipped 1 non-UTF-8 lines" in res.stderr
  assert "1 input files hold no text: empty.txt" in res.stderr
  res = subprocess.run(cmd[:3] + [f"--text_dir={tmp_path / 'missing'}"] + cmd[4:], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
  assert res.returncode == 2 and res.stderr.strip().startswith("error:")
