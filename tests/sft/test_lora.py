"""LoRA: a fresh adapter is exactly the base model, gradients reach only the adapters, the
optimizer keeps state for them only, and folding an adapter in changes nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llmjax.errors import ConfigError
from llmjax.model.transformer import Transformer
from llmjax.sft import lora
from llmjax.sft.config import DEFAULT_TARGETS
from llmjax.sft.trainer import LoraTrainer
from llmjax.training import sharding
from llmjax.training.step import grads_loss_and_metrics
from tests.helpers import micro_config, numpy_params

SPEC = lora.LoraSpec(rank=4, alpha=8.0, targets=DEFAULT_TARGETS)


@pytest.fixture(scope="module")
def setup():
  cfg, _ = micro_config()
  params = numpy_params(cfg.model, seed=1)
  tokens = jnp.asarray(np.random.default_rng(0).integers(4, 384, (2, 16)), jnp.int32)
  return cfg, params, tokens


def _logits(cfg, params, tokens):
  return jax.jit(lambda p, t: Transformer(cfg.model).apply({"params": p}, t)[0])(params, tokens)


def _adapted_logits(cfg, params, adapters, tokens):
  adapted = lambda p, a, t: lora.Adapted(Transformer(cfg.model), p, SPEC.scale).apply(
      {"params": a}, t)[0]
  return jax.jit(adapted)(params, adapters, tokens)


_init = jax.jit(lora.init, static_argnums=1)  # eager init compiles op by op: slow on CPU


def _trained(adapters, seed=3):
  """The adapters with B drawn at random too: as after some training."""
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map_with_path(
      lambda p, x: jnp.asarray(0.1 * rng.standard_normal(x.shape), x.dtype)
      if jax.tree_util.keystr(p).endswith("['b']") else x, adapters)


def test_targets_are_the_attention_and_mlp_projections(setup):
  cfg, params, _ = setup
  names = ["/".join(p) for p in lora.target_paths(params, SPEC)]
  assert names == [f"layers/{m}" for m in ("attn/wk", "attn/wo", "attn/wq", "attn/wv",
                                           "mlp/down", "mlp/gate", "mlp/up")]
  only_q = lora.LoraSpec(4, 8.0, r"attn/wq$")
  assert ["/".join(p) for p in lora.target_paths(params, only_q)] == ["layers/attn/wq"]
  with pytest.raises(ConfigError, match="matches none"):
    lora.target_paths(params, lora.LoraSpec(4, 8.0, "embedding"))


def test_shapes_follow_each_projection(setup):
  cfg, params, _ = setup
  m = cfg.model
  ad = _init(params, SPEC, jax.random.key(0))
  L, D, N, K, H, F, r = m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.head_dim, m.d_ff, 4
  assert ad["layers"]["attn"]["wq"]["a"].shape == (L, D, r)
  assert ad["layers"]["attn"]["wk"]["b"].shape == (L, r, K, H)
  assert ad["layers"]["attn"]["wo"]["a"].shape == (L, N, H, r)
  assert ad["layers"]["attn"]["wo"]["b"].shape == (L, r, D)
  assert ad["layers"]["mlp"]["down"]["a"].shape == (L, F, r)
  assert lora.count(ad) == L * r * (2 * (D + N * H) + 2 * (D + K * H) + 3 * (D + F))


def test_zero_b_gives_exactly_the_base_logits(setup):
  cfg, params, tokens = setup
  adapters = _init(params, SPEC, jax.random.key(0))
  b_leaves = [x for p, x in jax.tree_util.tree_flatten_with_path(adapters)[0]
              if jax.tree_util.keystr(p).endswith("['b']")]
  assert len(b_leaves) == 7 and not any(np.any(np.asarray(b)) for b in b_leaves)
  np.testing.assert_array_equal(np.asarray(_adapted_logits(cfg, params, adapters, tokens)),
                                np.asarray(_logits(cfg, params, tokens)))


def test_merged_equals_unmerged(setup):
  """Folding W + s*A@B into the weights (what merge writes) gives the logits of the base
  weights with the adapters applied on the activations: x@W + s*(x@A)@B per projection."""
  cfg, params, tokens = setup
  adapters = _trained(_init(params, SPEC, jax.random.key(0)))
  merged = jax.jit(lora.merge, static_argnums=2)(params, adapters, SPEC.scale)
  # One projection, checked on the activations: the definition of LoRA.
  x_BTD = np.random.default_rng(1).standard_normal((2, 5, cfg.model.d_model)).astype(np.float32)
  for name, eq in (("wq", "btd,dnh->btnh"), ("wo", "btnh,nhd->btd")):
    w = np.asarray(params["layers"]["attn"][name][0])
    a = np.asarray(adapters["layers"]["attn"][name]["a"][0])
    b = np.asarray(adapters["layers"]["attn"][name]["b"][0])
    x = x_BTD if name == "wq" else x_BTD.reshape(2, 5, cfg.model.n_heads, -1)[..., :w.shape[1]]
    unmerged = (np.einsum(eq, x, w) + SPEC.scale * np.tensordot(
        np.tensordot(x, a, axes=a.ndim - 1), b, axes=1))
    folded = np.einsum(eq, x, np.asarray(merged["layers"]["attn"][name][0]))
    np.testing.assert_allclose(folded, unmerged, rtol=1e-5, atol=1e-5)
  # The whole model: adapters merged per forward pass (training) == merged weights.
  np.testing.assert_allclose(np.asarray(_adapted_logits(cfg, params, adapters, tokens)),
                             np.asarray(_logits(cfg, merged, tokens)), rtol=1e-5, atol=1e-5)
  assert not np.allclose(np.asarray(_logits(cfg, merged, tokens)),
                         np.asarray(_logits(cfg, params, tokens)), atol=1e-3)


def test_gradients_reach_only_the_adapters(setup):
  cfg, params, tokens = setup
  adapters = _init(params, SPEC, jax.random.key(0))
  batch = {"inputs": tokens, "targets": jnp.roll(tokens, -1, axis=1),
           "segment_ids": jnp.ones_like(tokens), "positions": jnp.broadcast_to(
               jnp.arange(tokens.shape[1]), tokens.shape),
           "loss_mask": jnp.ones_like(tokens).at[:, :8].set(0)}
  grads, loss, weight, _ = jax.jit(lambda p, a, b: grads_loss_and_metrics(
      a, lora.Adapted(Transformer(cfg.model), p, SPEC.scale), b, None, accum=1))(
          params, adapters, batch)
  assert jax.tree.structure(grads) == jax.tree.structure(adapters)  # nothing else
  assert float(weight) == 2 * 8  # the loss mask: 8 of 16 targets per row
  flat = jax.tree_util.tree_flatten_with_path(grads)[0]
  for path, g in flat:  # B gets a gradient at once; A only once B is no longer zero
    assert bool(jnp.any(g != 0)) == jax.tree_util.keystr(path).endswith("['b']"), path


def test_train_step_changes_only_the_adapters_and_keeps_state_for_them(setup):
  """The LoRA trainer on the 8 simulated devices: the base is a separate argument of the
  step, bitwise unchanged; the optimizer state holds adapter-shaped arrays only."""
  cfg, params, tokens = setup
  mesh = sharding.make_mesh(cfg.mesh)
  trainer = LoraTrainer(cfg, mesh, base=None, spec=SPEC)
  trainer.base = jax.device_put(params, trainer.param_sharding)
  state = trainer.init_state(jax.random.key(0))
  shapes = {x.shape for x in jax.tree.leaves(state.params)}
  assert {x.shape for x in jax.tree.leaves(state.opt_state) if x.ndim} <= shapes
  before_base = jax.tree.map(np.asarray, trainer.base)
  before = jax.tree.map(np.asarray, state.params)
  B, T = cfg.data.batch_size, cfg.data.seq_len
  toks = np.random.default_rng(2).integers(4, 384, (B, T)).astype(np.int32)
  batch = trainer.put_batch({"inputs": toks, "targets": np.roll(toks, -1, 1),
                             "segment_ids": np.ones((B, T), np.int32),
                             "positions": np.tile(np.arange(T, dtype=np.int32), (B, 1)),
                             "loss_mask": np.ones((B, T), np.int32)})
  for _ in range(3):  # the first step has a zero learning rate (warmup)
    state, m = trainer.train_step(state, batch, jax.random.key(1))
  assert np.isfinite(float(m["loss"]))
  jax.tree.map(np.testing.assert_array_equal, before_base, jax.tree.map(np.asarray,
                                                                         trainer.base))
  changed = jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(a != np.asarray(b))),
                                         before, state.params))
  assert all(changed)  # every A and every B moved
