"""TUMLU: the 5-shot prompt and accuracy per subject."""

from llmjax.evals import tumlu
from llmjax.evals.loglik import Score


def test_tumlu_five_shot_prompt_and_accuracy():
  dev = [{"question": f"d{i}", "choices": ["w", "x", "y", "z"], "answer": "A"}
         for i in range(6)]
  test = [{"question": "q1", "choices": ["w", "x", "y", "z"], "answer": "B"},
          {"question": "q2", "choices": ["w", "x", "y", "z"], "answer": "C"}]
  seen = []

  def prefers_b(requests):
    seen.extend(requests)
    return [Score(0.0 if r.continuation == " B" else -2.0, 1, 2) for r in requests]
  out = tumlu.score(prefers_b, {"Maths": (dev, test)})
  assert out["accuracy"] == 0.5 and out["per_subject"] == {"Maths": 0.5}
  ctx = seen[0].context
  assert ctx.count("Сорау:") == 6 and ctx.count("Җавап: A") == 5  # 5 shots + the question
  assert ctx.endswith("Сорау: q1\nA. w\nB. x\nC. y\nD. z\nҖавап:")
