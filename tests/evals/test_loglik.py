"""ModelScorer, the log-likelihood interface every benchmark uses, against the model: the
chain rule, and greedy answers from the KV-cached decoder against the no-cache reference.
(Its bits/char against llmjax.evals.bpc: tests/evals/test_bpc.py.)"""

import numpy as np
import pytest

from llmjax.evals import loglik
from llmjax.evals.loglik import ModelScorer, Request
from llmjax.model import decode


def test_loglik_chain_rule(model_scorer):
  # log p(a b) = log p(a) + log p(b | a): continuation scores add up across a split.
  a, b = "Тукай Казанда", " яши."
  whole, first, second = model_scorer([Request("", a + b), Request("", a), Request(a, b)])
  assert whole.logprob == pytest.approx(first.logprob + second.logprob, abs=1e-3)
  assert second.chars == len(b) and second.tokens == len(model_scorer.tok.encode(b))
  assert whole.logprob < 0


def test_batch_size_is_a_multiple_of_the_batch_shards(model_scorer):
  shards = model_scorer.model.batch_shards
  assert shards == 8  # the suite's 8 simulated devices, data parallel
  odd = ModelScorer(model_scorer.model, model_scorer.params, model_scorer.tok, batch_size=3)
  assert odd.batch_size == 8
  requests = [Request("", "Казан"), Request("Казан", " шәһәре."), Request("", "Идел.")]
  assert [s.logprob for s in odd(requests)] == pytest.approx(
      [s.logprob for s in model_scorer(requests)], abs=1e-5)


@pytest.mark.slow  # compiles a generation loop: ~15-80 s on 2 shared cores
def test_greedy_matches_decode_reference(model_scorer):
  prompts = ["Казан", "Алар китап"]
  got = model_scorer.greedy(prompts, max_new_tokens=5, stop="\x00")
  # Every row (prompts of different lengths, left-padded in one batch) equals the prompt
  # decoded alone by the no-cache reference.
  for p, g in zip(prompts, got):
    ids = [model_scorer.tok.bos_id] + model_scorer.tok.encode(p)
    ref = decode.generate_no_cache(model_scorer.params, model_scorer.model.model_cfg,
                                   np.asarray([ids]), max_new_tokens=5,
                                   eos_id=model_scorer.tok.eos_id)
    ref_ids = [int(i) for i in np.asarray(ref)[0]]
    if model_scorer.tok.eos_id in ref_ids:
      ref_ids = ref_ids[:ref_ids.index(model_scorer.tok.eos_id)]
    assert g == model_scorer.tok.decode(ref_ids)


def test_from_restored_uses_the_restored_model(model_scorer):
  class Restored:  # what llmjax.training.restore.load returns, as far as the scorer reads
    model, params, tokenizer = model_scorer.model, model_scorer.params, model_scorer.tok
  scorer = loglik.from_restored(Restored(), batch_size=16)
  assert scorer.model is model_scorer.model and scorer.batch_size == 16
  request = [Request("Тукай", " Казанда яши.")]
  assert scorer(request)[0].logprob == pytest.approx(model_scorer(request)[0].logprob,
                                                     abs=1e-5)
