"""The suite's pieces the training loop uses: evals.for_training and the few-shot probe."""

import json

import pytest

from llmjax import evals
from llmjax.errors import ConfigError
from llmjax.evals import bpc, suite
from llmjax.training import loop
from tests.helpers import micro_config


def test_for_training_evaluators():
  cfg, _ = micro_config()
  plain = evals.for_training(cfg)
  assert plain.validate is bpc.validation and plain.periodic == ()
  cfg, _ = micro_config(train__fewshot_every=7, train__fewshot_qa_facts=3,
                        train__fewshot_blimp_pairs=0, train__fewshot_flores_lines=0)
  ((every, probe),) = evals.for_training(cfg).periodic
  assert every == 7 and isinstance(probe, suite.FewShotProbe)
  assert len(probe.qa_facts) == 3 and probe.blimp_pairs == [] and probe.flores_lines == []


def test_suite_names():
  assert suite.parse_names("all") == list(suite.ALL)
  assert suite.parse_names("qa,bpc") == ["qa", "bpc"]
  with pytest.raises(ConfigError, match="nope"):
    suite.parse_names("qa,nope")


@pytest.mark.slow  # trains: ~15-80 s on 2 shared cores
def test_training_loop_logs_fewshot_probe(tmp_path, tatar_fixture_dir):
  cfg, d = micro_config(train__total_steps=4, train__eval_every=4, train__checkpoint_every=4,
                        train__log_every=2, train__fewshot_every=2,
                        train__fewshot_qa_facts=3, train__fewshot_blimp_pairs=8,
                        train__fewshot_flores_lines=4, model__max_seq_len=64,
                        workdir=str(tmp_path / "w"), data__text_dir=str(tatar_fixture_dir))
  loop.train(cfg, d, evals.for_training(cfg))
  records = [json.loads(x) for x in (tmp_path / "w" / "metrics.jsonl").open()]
  probe = [r for r in records if "fewshot_qa_accuracy" in r]
  assert [r["step"] for r in probe] == [0, 2, 4]
  for r in probe:
    assert 0.0 <= r["fewshot_qa_accuracy"] <= 1.0
    assert 0.0 <= r["fewshot_qa_consistent_and_correct"] <= r["fewshot_qa_consistency"] <= 1.0


def test_fewshot_every_must_not_be_negative():
  with pytest.raises(ConfigError, match="fewshot_every"):
    micro_config(train__fewshot_every=-1)


def test_fewshot_probe_is_an_evaluator(model_scorer):
  """Called with the loop's EvalContext; FLORES / TatBLiMP drop out without their files."""
  from llmjax.data.pipeline import PreparedData
  from tests.fixture_text import fixture_lines
  val = bpc.pack_lines(model_scorer.tok, fixture_lines()[:4], 64)
  data = PreparedData(tokenizer=model_scorer.tok, train=val, val=val, stats={}, source="x")
  ctx = loop.EvalContext(model_scorer.model, model_scorer.params, data, batch_size=8, step=5)
  probe = suite.FewShotProbe(qa_facts=3, blimp_pairs=4, flores_lines=4)
  out = probe(ctx)
  assert 0.0 <= out["fewshot_qa_accuracy"] <= 1.0
  assert set(out) >= {"fewshot_qa_accuracy", "fewshot_qa_consistency",
                      "fewshot_qa_consistent_and_correct"}
  assert ("fewshot_tatblimp_accuracy" in out) == bool(probe.blimp_pairs)
  assert ("fewshot_flores_bits_per_char" in out) == bool(probe.flores_lines)
  if probe.flores_lines:
    assert out["fewshot_flores_bits_per_char"] > 0
  assert all(isinstance(v, float) for v in out.values())
  assert probe(ctx) == out  # the same samples every time
