"""Behaviour of the transformer: shapes, masking, RoPE, GQA, remat, dropout, counts.
(The attention kernels and masks alone: tests/model/test_attention.py.)"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from llmjax import model
from llmjax.config import MeshConfig, ModelConfig, default_config, from_config
from llmjax.errors import ConfigError
from llmjax.model import transformer
from llmjax.training import sharding

TINY = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                   head_dim=8, d_ff=64, dtype="float32", max_seq_len=32)


def _cfg(**kw) -> ModelConfig:
  return dataclasses.replace(TINY, **kw)


@pytest.fixture(scope="module")
def params():
  # One real init for the module (XLA:CPU compiles are the slow part of these tests);
  # shapes do not depend on dtype / remat / dropout, so every variant reuses it.
  return nn.unbox(model.init_params(TINY, jax.random.key(0)))


def _tokens(b: int, t: int, seed: int = 1) -> jax.Array:
  return jax.random.randint(jax.random.key(seed), (b, t), 0, TINY.vocab_size, jnp.int32)


@functools.partial(jax.jit, static_argnames=("cfg", "deterministic"))
def _forward(cfg, params, tokens, positions=None, segment_ids=None, cache=None,
             deterministic=True, dropout_rng=None):
  rngs = {} if dropout_rng is None else {"dropout": dropout_rng}
  return model.Transformer(cfg).apply(
      {"params": params}, tokens, positions_BT=positions, segment_ids_BT=segment_ids,
      cache=cache, deterministic=deterministic, rngs=rngs)


def _with_kv_heads(params, repeat=None, keep=None):
  """Params with wk / wv heads repeated (or truncated) along the kv-head axis."""
  attn = dict(params["layers"]["attn"])
  for name in ("wk", "wv"):  # [L, D, K, H]
    w = attn[name] if keep is None else attn[name][:, :, :keep]
    attn[name] = w if repeat is None else jnp.repeat(w, repeat, axis=2)
  return {**params, "layers": {**params["layers"], "attn": attn}}


def test_init_params(params):
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  attn = params["layers"]["attn"]
  assert attn["wq"].shape == (2, 32, 4, 8) and attn["wk"].shape == (2, 32, 2, 8)
  assert attn["wo"].shape == (2, 4, 8, 32)
  assert float(jnp.std(attn["wq"])) == pytest.approx(0.02, rel=0.1)
  assert float(jnp.std(attn["wo"])) == pytest.approx(0.02 / 2, rel=0.1)  # 1/sqrt(2L)
  assert not np.allclose(attn["wq"][0], attn["wq"][1])  # layers initialised independently
  np.testing.assert_array_equal(params["final_norm"]["scale"], np.ones(32))


def test_shapes_and_dtypes(params):
  cfg = _cfg(dtype="bfloat16")
  logits, cache = _forward(cfg, params, _tokens(3, 16))
  assert logits.shape == (3, 16, 64) and logits.dtype == jnp.float32
  assert cache is None
  logits, cache = _forward(cfg, params, _tokens(3, 5), cache=model.init_cache(cfg, 3, 12))
  assert logits.shape == (3, 5, 64) and logits.dtype == jnp.float32
  # One layer kind (layer_group 1): one [L, B, S, K, H] array each for keys and values.
  assert len(cache.k) == len(cache.v) == 1
  assert cache.k[0].shape == (2, 3, 12, 2, 8) and cache.k[0].dtype == jnp.bfloat16
  assert cache.v[0].shape == (2, 3, 12, 2, 8) and cache.start_B.shape == (3,)
  assert int(cache.length) == 5


def test_logical_axis_names():
  P = jax.sharding.PartitionSpec
  specs = model.logical_partition_specs(_cfg(tie_embeddings=False))
  assert specs["embedding"] == P("vocab", "embed")
  assert specs["unembedding"] == P("embed", "vocab")
  assert specs["layers"]["attn"]["wq"] == P("layers", "embed", "q_heads", "head_dim")
  assert specs["layers"]["attn"]["wv"] == P("layers", "embed", "kv_heads", "head_dim")
  assert specs["layers"]["attn"]["wo"] == P("layers", "q_heads", "head_dim", "embed")
  assert specs["layers"]["mlp"]["down"] == P("layers", "mlp", "embed")
  assert specs["layers"]["attn_norm"]["scale"] == P("layers", "norm")
  assert specs["final_norm"]["scale"] == P("norm")


def test_runs_sharded_under_mesh_and_rules(params):
  mesh_cfg = MeshConfig(data=2, fsdp=2, tensor=2)
  mesh = sharding.make_mesh(mesh_cfg)
  tokens = _tokens(4, 8)
  expected, _ = _forward(TINY, params, tokens)
  shardings = sharding.logical_to_sharding(model.logical_partition_specs(TINY), mesh,
                                           mesh_cfg)
  with sharding.activate(mesh, mesh_cfg):
    sharded = jax.device_put(params, shardings)
    # A fresh jit: the logical rules are read at trace time, not part of jit's cache key.
    logits, _ = jax.jit(lambda p, t: model.Transformer(TINY).apply({"params": p}, t))(
        sharded, tokens)
  up_spec = sharded["layers"]["mlp"]["up"].sharding.spec  # ('layers', 'embed', 'mlp')
  assert up_spec == jax.sharding.PartitionSpec(None, "fsdp", "tensor")
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_causality_gradients(params):
  tokens = _tokens(2, 12)

  @jax.jit
  def grad_per_position(t):
    def loss(e):
      logits, _ = model.Transformer(TINY).apply({"params": params}, None, embeddings_BTD=e)
      return optax.softmax_cross_entropy_with_integer_labels(logits[:, t], tokens[:, 0]).sum()
    return jnp.abs(jax.grad(loss)(params["embedding"][tokens])).sum(axis=(0, 2))

  for t in (0, 5, 11):
    g = np.asarray(grad_per_position(t))
    assert np.all(g[t + 1:] == 0.0), (t, g)
    assert np.all(g[:t + 1] > 0.0), (t, g)


def test_rope_depends_only_on_relative_position():
  H = 16
  q = jax.random.normal(jax.random.key(0), (1, 1, 1, H))
  k = jax.random.normal(jax.random.key(1), (1, 1, 1, H))

  def score(m, n):
    rq = transformer.apply_rope(q, transformer.rope_tables(jnp.array([[m]]), H, 10_000.0))
    rk = transformer.apply_rope(k, transformer.rope_tables(jnp.array([[n]]), H, 10_000.0))
    return float(jnp.sum(rq * rk))

  for m, n in [(3, 1), (7, 7), (2, 9)]:
    for shift in (1, 5, 100):
      assert score(m + shift, n + shift) == pytest.approx(score(m, n), rel=1e-4, abs=1e-4)
  assert score(5, 0) != pytest.approx(score(0, 0), rel=1e-3)
  # Position 0 is the identity rotation.
  np.testing.assert_allclose(transformer.apply_rope(q, transformer.rope_tables(jnp.zeros((1, 1)), H, 1e4)),
                             q, rtol=1e-6)


def test_packed_documents_are_isolated(params):
  a, b, b2 = _tokens(1, 6, seed=2), _tokens(1, 6, seed=3), _tokens(1, 6, seed=4)
  pad = jnp.zeros((1, 4), jnp.int32)
  seg = jnp.array([[1] * 6 + [2] * 6 + [0] * 4])
  pos = jnp.concatenate([jnp.arange(6), jnp.arange(6), jnp.arange(4)])[None]

  def packed(doc_b):
    row = jnp.concatenate([a, doc_b, pad], axis=1)
    return _forward(TINY, params, row, positions=pos, segment_ids=seg)[0]

  p1, p2 = packed(b), packed(b2)
  np.testing.assert_array_equal(p1[:, :6], p2[:, :6])
  assert not np.allclose(p1[:, 6:12], p2[:, 6:12])
  alone, _ = _forward(TINY, params, jnp.concatenate([a, b], axis=0))
  np.testing.assert_allclose(p1[0, :6], alone[0], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(p1[0, 6:12], alone[1], rtol=1e-5, atol=1e-5)


def test_gqa_groups_match_mha_with_repeated_kv(params):
  # Query head n reads kv head n // (N / K): repeating each kv head N / K times gives MHA.
  tokens = _tokens(2, 8)
  gqa, _ = _forward(TINY, params, tokens)
  mha, _ = _forward(_cfg(n_kv_heads=4), _with_kv_heads(params, repeat=2), tokens)
  np.testing.assert_allclose(gqa, mha, rtol=1e-5, atol=1e-5)
  mqa_params = _with_kv_heads(params, keep=1)
  mqa, _ = _forward(_cfg(n_kv_heads=1), mqa_params, tokens)
  mha1, _ = _forward(_cfg(n_kv_heads=4), _with_kv_heads(mqa_params, repeat=4), tokens)
  assert mqa.shape == (2, 8, 64) and np.all(np.isfinite(mqa))
  np.testing.assert_allclose(mqa, mha1, rtol=1e-5, atol=1e-5)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _loss_and_grads(cfg, params, tokens):
  def loss(p):
    logits, _ = model.Transformer(cfg).apply({"params": p}, tokens[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()
  return jax.value_and_grad(loss)(params)


def test_remat_policies_match_no_remat(params):
  tokens = _tokens(2, 17)
  ref_loss, ref_grads = _loss_and_grads(_cfg(remat="none"), params, tokens)
  for policy in ("full", "dots", "attn_out"):  # (dots_no_batch: left out for time)
    loss, grads = _loss_and_grads(_cfg(remat=policy), params, tokens)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6, err_msg=policy)
    jax.tree.map(lambda g, r: np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-7,
                                                         err_msg=policy),
                 grads, ref_grads)


def test_dropout_only_when_not_deterministic(params):
  cfg = _cfg(dropout=0.3)
  tokens = _tokens(2, 8)
  no_dropout, _ = _forward(TINY, params, tokens)
  det, _ = _forward(cfg, params, tokens)
  np.testing.assert_array_equal(det, no_dropout)
  k1, k2 = jax.random.key(1), jax.random.key(2)
  drop1, _ = _forward(cfg, params, tokens, deterministic=False, dropout_rng=k1)
  drop1b, _ = _forward(cfg, params, tokens, deterministic=False, dropout_rng=k1)
  drop2, _ = _forward(cfg, params, tokens, deterministic=False, dropout_rng=k2)
  assert not np.allclose(drop1, det)
  assert not np.allclose(drop1, drop2)
  np.testing.assert_array_equal(drop1, drop1b)


def test_count_params_and_flops_hand_computed(params):
  # V=64 D=32 L=2 N=4 K=2 H=8 F=64. Per layer: 2 norms 2*32, q/o 2*32*4*8, k/v 2*32*2*8,
  # MLP 3*32*64 = 9280; embedding 64*32 = 2048; final norm 32.
  counts = model.count_params(params)
  assert counts == {"total": 2048 + 2 * 9280 + 32, "embedding": 2048,
                    "non_embedding": 2 * 9280 + 32}
  untied = model.count_params(model.abstract_params(_cfg(tie_embeddings=False)))
  assert untied["total"] == counts["total"] + 2048 and untied["embedding"] == 4096
  # matmul params: 2 * (1024 + 512 + 512 + 1024 + 3 * 2048) + 32 * 64 = 20480;
  # attention: 12 * L * N * H * seq = 12 * 2 * 4 * 8 * 16 = 12288.
  assert model.flops_per_token(TINY, 16) == 6 * 20480 + 12288
  assert model.flops_per_token(_cfg(tie_embeddings=False), 16) == 6 * 20480 + 12288


def test_padding_rows_are_finite_and_zero_weight_grads_finite(params):
  tokens = _tokens(2, 8)
  seg = jnp.array([[1, 1, 1, 2, 2, 0, 0, 0], [0] * 8])  # second row all padding

  @jax.jit
  def loss_and_grads(p):
    def loss(p):
      logits, _ = model.Transformer(TINY).apply({"params": p}, tokens, segment_ids_BT=seg)
      nll = optax.softmax_cross_entropy_with_integer_labels(logits, tokens)
      w = (seg > 0).astype(jnp.float32)
      return jnp.sum(nll * w) / jnp.maximum(w.sum(), 1.0), logits
    return jax.value_and_grad(loss, has_aux=True)(p)

  (value, logits), grads = loss_and_grads(params)
  assert np.all(np.isfinite(logits)) and np.isfinite(value)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_removed_options_are_refused(params):
  tokens = _tokens(1, 4)
  # attention_impl='splash' and scan_layers are gone: the config refuses them by name.
  with pytest.raises(ConfigError, match="splash"):
    _cfg(attention_impl="splash")
  d = default_config().to_dict()
  d["model"]["scan_layers"] = False
  with pytest.raises(ConfigError, match="scan_layers"):
    from_config(d)
  with pytest.raises(ValueError, match="segment_ids"):
    _forward(TINY, params, tokens, segment_ids=jnp.ones((1, 4), jnp.int32),
             cache=model.init_cache(TINY, 1, 8))
