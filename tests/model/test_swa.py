"""Sliding-window attention (training mask, ring-buffer decoding) and the block options
(QK-norm, logit soft-caps, learned absolute positions)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from llmjax import model
from llmjax.config import ModelConfig
from llmjax.errors import ConfigError
from llmjax.model import attention, decode
from tests.helpers import numpy_params

# A large init_std makes logits decisive, so greedy ties cannot flip between code paths.
BASE = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                   head_dim=8, d_ff=64, dtype="float32", max_seq_len=32, init_std=0.3)
LOCAL = dataclasses.replace(BASE, sliding_window=4)  # both layers local
PATTERN = dataclasses.replace(BASE, sliding_window=4, global_every=2)  # local, global


def _cfg(base=BASE, **kw) -> ModelConfig:
  return dataclasses.replace(base, **kw)


@pytest.fixture(scope="module")
def params():
  return numpy_params(BASE)


def _grouped(params, group: int):
  """The same weights laid out for a scanned group of `group` layers (block_j = layers
  j, j+group, ...)."""
  layers = params["layers"]
  blocks = {f"block_{j}": jax.tree.map(lambda a, j=j: a[j::group], layers)
            for j in range(group)}
  return {**params, "layers": blocks}


def _tokens(b: int, t: int, seed: int = 1) -> jax.Array:
  return jax.random.randint(jax.random.key(seed), (b, t), 0, BASE.vocab_size, jnp.int32)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _forward(cfg, params, tokens, segment_ids=None, positions=None):
  return model.Transformer(cfg).apply({"params": params}, tokens, segment_ids_BT=segment_ids,
                                      positions_BT=positions)[0]


def test_window_at_least_sequence_equals_full_attention(params):
  tokens = _tokens(2, 16)
  seg = jnp.array([[1] * 9 + [2] * 7, [1] * 16])
  pos = jnp.array([list(range(9)) + list(range(7)), list(range(16))])
  full = _forward(BASE, params, tokens, seg, pos)
  np.testing.assert_array_equal(_forward(_cfg(sliding_window=16), params, tokens, seg, pos),
                                full)
  # The grouped (local, global) scan with a window >= T is the same stack of layers.
  grouped = _forward(_cfg(sliding_window=16, global_every=2), _grouped(params, 2), tokens,
                     seg, pos)
  np.testing.assert_allclose(grouped, full, rtol=1e-6, atol=1e-6)
  # A window < T changes the output.
  assert not np.allclose(_forward(_cfg(sliding_window=8), params, tokens, seg, pos), full)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _input_grad_per_position(cfg, params, tokens, t):
  """|d loss(output t) / d input embedding j| summed over batch and features: [T]."""
  def loss(e):
    logits, _ = model.Transformer(cfg).apply({"params": params}, None, embeddings_BTD=e)
    logits_t = jax.lax.dynamic_index_in_dim(logits, t, axis=1, keepdims=False)
    return optax.softmax_cross_entropy_with_integer_labels(logits_t, tokens[:, 0]).sum()
  return jnp.abs(jax.grad(loss)(params["embedding"][tokens])).sum(axis=(0, 2))


def test_token_beyond_window_has_exactly_zero_gradient(params):
  # Two local layers of window 4: output t depends on inputs t-6 .. t (3 steps per layer).
  tokens = _tokens(2, 16)
  for t in (15, 9, 3):
    g = np.asarray(_input_grad_per_position(LOCAL, params, tokens, t))
    reach = max(0, t - 2 * (LOCAL.sliding_window - 1))
    assert np.all(g[:reach] == 0.0), (t, g)
    assert np.all(g[reach:t + 1] > 0.0), (t, g)
    assert np.all(g[t + 1:] == 0.0), (t, g)
  # With the second layer global every earlier token matters again.
  g = np.asarray(_input_grad_per_position(PATTERN, _grouped(params, 2), tokens, 15))
  assert np.all(g[:16] > 0.0), g


def test_window_mask_and_attention_window():
  np.testing.assert_array_equal(attention.window_mask(jnp.arange(5), jnp.arange(5), 2),
                                np.tril(np.ones((5, 5), bool)) & ~np.tril(np.ones((5, 5),
                                                                              bool), -2))
  q = jax.random.normal(jax.random.key(0), (1, 6, 2, 8))
  k = jax.random.normal(jax.random.key(1), (1, 6, 1, 8))
  v = jax.random.normal(jax.random.key(2), (1, 6, 1, 8))
  windowed = attention.dot_product_attention(q, k, v, None, causal=True, impl="xla", window=3)
  mask = attention.window_mask(jnp.arange(6), jnp.arange(6), 3)[None, None]
  explicit = attention.dot_product_attention(q, k, v, mask, causal=False, impl="xla")
  np.testing.assert_allclose(windowed, explicit, rtol=1e-6, atol=1e-6)


def test_ring_buffer_cache_logits_equal_full_forward(params):
  # (local, global) groups: a ring-buffer layer beside a full-cache layer.
  cfg = PATTERN
  p = _grouped(params, 2)
  tokens = _tokens(2, 16)
  full = _forward(cfg, p, tokens)
  apply = jax.jit(lambda t, c: model.Transformer(cfg).apply({"params": p}, t, cache=c))
  cache = model.init_cache(cfg, 2, 32)
  assert len(cache.k) == len(cache.v) == 2  # one array per layer of the (local, global) group
  assert cache.k[0].shape[2] == cfg.sliding_window  # ring: window slots, not max_len
  assert cache.k[1].shape[2] == 32  # the global layer keeps every position
  # A prefill longer than the window (6 > 4), then chunks of 1 and 3, then 1s: the ring
  # wraps several times.
  prefill, cache = apply(tokens[:, :6], cache)
  np.testing.assert_allclose(prefill, full[:, :6], rtol=1e-5, atol=1e-5)
  t = 6
  for n in (1, 3, 1, 1, 1, 3):
    out, cache = apply(tokens[:, t:t + n], cache)
    np.testing.assert_allclose(out, full[:, t:t + n], rtol=1e-5, atol=1e-5, err_msg=str(t))
    t += n
  assert t == 16 and int(cache.length) == 16


def test_windowed_cached_generation_equals_no_cache(params):
  # All layers local (one ring-buffer array); the grouped layout is covered above.
  prompt = _tokens(3, 6, seed=5)
  cached = decode.generate(params, LOCAL, prompt, max_new_tokens=14, rng=jax.random.key(0))
  reference = decode.generate_no_cache(params, LOCAL, prompt, max_new_tokens=14)
  np.testing.assert_array_equal(cached, reference)
  assert len(np.unique(np.asarray(cached))) > 1
  # The local layers' cache does not grow with the generation length.
  assert model.init_cache(LOCAL, 1, 10_000).k[0].shape[2] == 4


def test_qk_norm_makes_output_invariant_to_query_key_scale():
  cfg = _cfg(qk_norm=True, n_layers=1)
  p = numpy_params(cfg)
  assert p["layers"]["attn"]["q_norm"]["scale"].shape == (1, cfg.head_dim)
  attn = dict(p["layers"]["attn"])
  scaled = {**p, "layers": {**p["layers"], "attn": {**attn, "wq": attn["wq"] * 7.0,
                                                    "wk": attn["wk"] * 3.0}}}
  tokens = _tokens(2, 8)
  np.testing.assert_allclose(_forward(cfg, scaled, tokens), _forward(cfg, p, tokens),
                             rtol=1e-4, atol=1e-4)
  plain = _cfg(n_layers=1)
  assert not np.allclose(_forward(plain, scaled, tokens), _forward(plain, p, tokens),
                         atol=1e-3)


def test_attention_softcap():
  q = 4.0 * jax.random.normal(jax.random.key(0), (1, 5, 2, 8))
  k = 4.0 * jax.random.normal(jax.random.key(1), (1, 5, 1, 8))
  v = jax.random.normal(jax.random.key(2), (1, 5, 1, 8))
  plain = attention.dot_product_attention(q, k, v, None, causal=True, impl="xla")
  huge = attention.dot_product_attention(q, k, v, None, causal=True, impl="xla", softcap=1e5)
  np.testing.assert_allclose(huge, plain, rtol=1e-4, atol=1e-4)
  # Reference: softmax over cap * tanh(scores / cap), causal.
  cap = 2.0
  capped = attention.dot_product_attention(q, k, v, None, causal=True, impl="xla",
                                           softcap=cap)
  s = jnp.einsum("tnh,sh->nts", q[0], k[0, :, 0]) / jnp.sqrt(8.0)
  s = jnp.where(jnp.tril(jnp.ones((5, 5), bool)), cap * jnp.tanh(s / cap), -jnp.inf)
  ref = jnp.einsum("nts,sh->tnh", jax.nn.softmax(s, axis=-1), v[0, :, 0])
  np.testing.assert_allclose(capped[0], ref, rtol=1e-5, atol=1e-5)
  assert not np.allclose(capped, plain, atol=1e-3)


def test_final_logit_softcap_bounds_logits(params):
  tokens = _tokens(2, 8)
  capped = _forward(_cfg(final_logit_softcap=1.5), params, tokens)
  assert float(jnp.max(jnp.abs(capped))) < 1.5
  np.testing.assert_allclose(capped, 1.5 * jnp.tanh(_forward(BASE, params, tokens) / 1.5),
                             rtol=1e-5, atol=1e-6)


def test_learned_positions_replace_rope():
  cfg = _cfg(position_embedding="learned")
  p = numpy_params(cfg)
  assert p["position_embedding"].shape == (cfg.max_seq_len, cfg.d_model)
  tokens = _tokens(1, 8)
  a = _forward(cfg, p, tokens, positions=jnp.arange(8)[None])
  b = _forward(cfg, p, tokens, positions=jnp.arange(3, 11)[None])
  assert not np.allclose(a, b)
  # Without the table's contribution (zeros) and without RoPE the model cannot tell
  # positions apart beyond causality: a shift changes nothing.
  p0 = {**p, "position_embedding": jnp.zeros_like(p["position_embedding"])}
  np.testing.assert_allclose(_forward(cfg, p0, tokens, positions=jnp.arange(8)[None]),
                             _forward(cfg, p0, tokens, positions=jnp.arange(3, 11)[None]),
                             rtol=1e-6)
  # Cached decoding reads the table at the cache offset.
  prompt = _tokens(2, 5)
  np.testing.assert_array_equal(
      decode.generate(p, cfg, prompt, max_new_tokens=8, rng=jax.random.key(0)),
      decode.generate_no_cache(p, cfg, prompt, max_new_tokens=8))
  with pytest.raises(ConfigError, match="learned absolute positions"):
    decode.generate(p, cfg, prompt, max_new_tokens=8, rng=jax.random.key(0), max_len=64)


def test_config_validation():
  with pytest.raises(ConfigError, match="multiple of the layer pattern"):
    _cfg(n_layers=3, sliding_window=4, global_every=2)
  with pytest.raises(ConfigError, match="position_embedding"):
    _cfg(position_embedding="alibi")
  with pytest.raises(ConfigError, match="sliding_window"):
    _cfg(sliding_window=-1)
  assert [PATTERN.layer_window(i) for i in range(2)] == [4, 0]
  assert [_cfg(sliding_window=8, global_every=3, n_layers=6).layer_window(i)
          for i in range(6)] == [8, 8, 0, 8, 8, 0]
  assert [LOCAL.layer_window(i) for i in range(2)] == [4, 4]
  assert BASE.layer_group == LOCAL.layer_group == 1 and PATTERN.layer_group == 2


def test_flops_count_window_keys():
  # 2 layers, N*H = 32; seq 16: global 16 keys, local min(4, 16) = 4 keys.
  base = model.flops_per_token(BASE, 16)
  assert model.flops_per_token(PATTERN, 16) == base - 12 * 32 * (16 - 4)
  assert model.flops_per_token(LOCAL, 16) == base - 12 * 32 * 2 * (16 - 4)
  assert model.flops_per_token(_cfg(sliding_window=64), 16) == base
