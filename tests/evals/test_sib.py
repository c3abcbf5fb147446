"""SIB-200 topic classification: k-shot prompts covering every label, accuracy."""

import pytest

from llmjax.evals import sib
from llmjax.evals.loglik import Score


def test_sib_shots_cover_labels_and_score():
  train = [{"category": c, "text": f"{c} {i}"} for c in sib.LABELS for i in range(3)]
  shots = sib.shots(train, 7)
  assert len(shots) == 7 and {s["category"] for s in shots} == set(sib.LABELS)
  test = [{"category": "sports", "text": "a"}, {"category": "sports", "text": "b"},
          {"category": "travel", "text": "c"}, {"category": "health", "text": "d"}]
  seen = []

  def prefers_sport(requests):
    seen.extend(requests)
    return [Score(0.0 if r.continuation == " спорт" else -1.0, 1, len(r.continuation))
            for r in requests]
  out = sib.score(prefers_sport, train, test, k=2)
  assert out["accuracy"] == {"raw": 0.5, "per_char": 0.5}
  assert out["chance"] == pytest.approx(1 / 7) and out["majority"] == 0.5
  assert len(seen) == 4 * 7 and seen[0].context.count("Текст:") == 3
  assert seen[0].context.endswith("Текст: a\nТема:")
