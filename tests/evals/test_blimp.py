"""TatBLiMP: accuracy per phenomenon (stub log-likelihoods), what is scored, the data file."""

import pytest

from llmjax.evals import blimp
from llmjax.evals.loglik import Request
from tests.evals.stubs import length_loglik


def test_blimp_accuracy_per_phenomenon():
  pairs = [{"good": "аб", "bad": "абв", "phenomenon": "x"},   # good shorter: right
           {"good": "абвг", "bad": "а", "phenomenon": "x"},   # good longer: wrong
           {"good": "аб", "bad": "вг", "phenomenon": "y"},    # tie: not counted as right
           {"good": "а", "bad": "аааа", "phenomenon": "y"}]   # right
  out = blimp.score(length_loglik, pairs)
  assert out["accuracy"] == 0.5 and out["chance"] == 0.5 and out["pairs"] == 4
  assert out["per_phenomenon"] == {"x": 0.5, "y": 0.5}


def test_blimp_scores_whole_sentences_with_eos():
  seen = []

  def fn(requests):
    seen.extend(requests)
    return length_loglik(requests)
  blimp.score(fn, [{"good": "Ул килде.", "bad": "Ул килдем."}])
  assert seen == [Request("", "Ул килде.", True), Request("", "Ул килдем.", True)]


def test_load_pairs_from_the_evaluation_folder(tmp_path, monkeypatch):
  import json
  from llmjax.errors import DataError
  folder = tmp_path / "tatblimp"
  folder.mkdir()
  rows = [{"good": f"Ул килде {i}.", "bad": f"Ул килдем {i}.", "phenomenon": "agreement"}
          for i in range(10)]
  (folder / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in rows), encoding="utf-8")
  monkeypatch.setenv("LLMJAX_EVAL_DIR", str(tmp_path))
  assert blimp.load_pairs() == rows  # the default: $LLMJAX_EVAL_DIR/tatblimp/test.jsonl
  some = blimp.load_pairs(limit=4, seed=1)
  assert len(some) == 4 and all(r in rows for r in some)
  assert some == blimp.load_pairs(folder / "test.jsonl", limit=4, seed=1)  # seeded
  (folder / "bad.jsonl").write_text(json.dumps({"good": "x"}) + "\n", encoding="utf-8")
  with pytest.raises(DataError, match="record 1 needs string fields"):
    blimp.load_pairs(folder / "bad.jsonl")
  monkeypatch.setenv("LLMJAX_EVAL_DIR", str(tmp_path / "none"))
  with pytest.raises(DataError, match="LLMJAX_EVAL_DIR"):
    blimp.load_pairs()
