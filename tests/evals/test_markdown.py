"""The markdown report: models side by side with chance, the few-shot history table."""

from llmjax.evals import markdown, qa
from tests.evals.stubs import fact as _fact, length_loglik


def test_render_puts_models_side_by_side_with_chance():
  facts = [_fact("a", 0), _fact("b", 1)]
  res = {"model": {"step": 400, "params": 5_835_008}, "tatblimp": {"accuracy": 0.625},
         "qa": qa.score(length_loglik, facts), "command": "python -m llmjax.evaluate --x"}
  base = {"model": {"step": 0, "params": 5_835_008}, "tatblimp": {"accuracy": 0.5}}
  text = markdown.render([("trained", res), ("random", base)])
  assert "| TatBLiMP accuracy | 0.625 | 0.500 | 0.500 |" in text
  # length_loglik picks candidate 0 everywhere: fact a right, fact b wrong.
  assert "| QA accuracy (per-char) | 0.500 | – | 0.250 |" in text
  assert "| QA consistency (per-char) | 1.000 | – | 0.016 |" in text
  assert "python -m llmjax.evaluate --x" in text and "| trained | 400 | 5.84M |" in text


def test_render_tabulates_fewshot_validation_rows_by_step():
  rows = [{"step": 0, "val_bits_per_char": 4.0},
          {"step": 0, "fewshot_qa_accuracy": 0.25, "fewshot_tatblimp_accuracy": 0.5},
          {"step": 10, "loss": 3.0},
          {"step": 20, "val_bits_per_char": 2.5},
          {"step": 20, "fewshot_qa_accuracy": 0.75, "fewshot_qa_consistency": 1.0}]
  text = markdown.render([("trained", {"model": {"step": 20}})], histories=[("trained", rows)])
  assert "## Few-shot validation during training" in text
  assert "| 0 | 4.000 | – | 0.500 | 0.250 | – | – |" in text
  assert "| 20 | 2.500 | – | – | 0.750 | 1.000 | – |" in text
  assert "| 10 |" not in text  # steps without a few-shot row are not listed
  assert "Few-shot validation" not in markdown.render([("trained", {"model": {}})])
