"""The attention dispatch: kernel choice, masks, fully masked rows (the sliding window and
soft-cap: tests/model/test_swa.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llmjax.config import ModelConfig
from llmjax.errors import ConfigError
from llmjax.model import attention


def test_fully_masked_attention_row_is_finite():
  q = jax.random.normal(jax.random.key(0), (1, 4, 2, 8))
  k = jax.random.normal(jax.random.key(1), (1, 4, 1, 8))
  mask = jnp.ones((1, 1, 4, 4), bool).at[:, :, 2, :].set(False)

  @jax.jit
  def out_and_grads(q, k):
    f = lambda q, k: attention.dot_product_attention(q, k, k, mask, causal=True, impl="xla")
    return f(q, k), jax.grad(lambda q, k: f(q, k).sum(), argnums=(0, 1))(q, k)

  out, grads = out_and_grads(q, k)
  assert np.all(np.isfinite(out))
  assert all(np.all(np.isfinite(g)) for g in grads)


def test_segment_mask():
  seg = jnp.array([[1, 1, 2, 0]])
  m = attention.segment_mask(seg, seg)
  assert m.shape == (1, 1, 4, 4)
  np.testing.assert_array_equal(m[0, 0], np.array(
      [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], bool))


def test_resolve_impl():
  assert attention.resolve_impl("auto", jnp.bfloat16, causal=True) in ("xla", "cudnn")
  assert attention.resolve_impl("auto", jnp.float32, causal=True) == "xla"
  on_gpu = jax.default_backend() == "gpu"
  assert attention.resolve_impl("auto", jnp.bfloat16, causal=True) == (
      "cudnn" if on_gpu else "xla")
  # Decoding steps (not causal), soft-capped scores and 'xla' always run on XLA.
  assert attention.resolve_impl("cudnn", jnp.bfloat16, causal=False) == "xla"
  assert attention.resolve_impl("cudnn", jnp.bfloat16, causal=True, softcap=30.0) == "xla"
  assert attention.resolve_impl("xla", jnp.bfloat16, causal=True) == "xla"
  assert attention.resolve_impl("cudnn", jnp.bfloat16, causal=True) == "cudnn"


def test_cudnn_is_refused_where_it_cannot_run():
  base = dict(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=8,
              d_ff=64, max_seq_len=32)
  with pytest.raises(ConfigError, match="cudnn"):
    ModelConfig(**base, dtype="float32", attention_impl="cudnn")
  with pytest.raises(ConfigError, match="attn_logit_softcap"):
    ModelConfig(**base, dtype="bfloat16", attention_impl="cudnn", attn_logit_softcap=30.0)
  ModelConfig(**base, dtype="bfloat16", attention_impl="cudnn")  # a valid config ...
  if jax.default_backend() == "gpu":
    attention.check_backend("cudnn")
  else:  # ... that needs a GPU to run
    with pytest.raises(ConfigError, match="needs a GPU"):
      attention.check_backend("cudnn")
  for impl in ("auto", "xla"):
    attention.check_backend(impl)
