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
