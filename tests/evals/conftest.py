"""A ModelScorer on a micro model with random parameters (shared by the evals tests)."""

import jax
import pytest

from llmjax.evals.loglik import ModelScorer
from llmjax.tokenizer import train_tokenizer
from llmjax.training import sharding
from llmjax.training.step import Trainer
from tests.fixture_text import fixture_lines
from tests.helpers import micro_config


@pytest.fixture(scope="session")
def model_scorer() -> ModelScorer:
  cfg, _ = micro_config(model__max_seq_len=64, data__seq_len=64)
  tok = train_tokenizer(fixture_lines(), vocab_size=cfg.model.vocab_size)
  trainer = Trainer(cfg, sharding.make_mesh(cfg.mesh))  # a ShardedModel (plus an optimizer)
  state = trainer.init_state(jax.random.key(3))
  return ModelScorer(trainer, state.params, tok, batch_size=8)
