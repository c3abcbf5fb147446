"""Mixture-of-experts feed-forward: equivalences, routing, dispatch, losses, sharding."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llmjax import model
from llmjax.config import MeshConfig, ModelConfig, MoeConfig
from llmjax.errors import ConfigError
from llmjax.model import moe
from llmjax.training import sharding
from llmjax.training.step import Trainer, grads_loss_and_metrics
from llmjax.training.throughput import synthetic_batch
from tests.helpers import micro_config, numpy_params

DENSE = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                    head_dim=8, d_ff=64, dtype="float32", max_seq_len=32, init_std=0.1)
MOE = dataclasses.replace(DENSE, moe=MoeConfig(experts=4, top_k=2, d_ff=16))


def _moe(**kw) -> ModelConfig:
  """MOE with some of its model.moe.* settings changed."""
  return dataclasses.replace(MOE, moe=dataclasses.replace(MOE.moe, **kw))


def _tokens(b: int, t: int, seed: int = 1) -> jax.Array:
  return jax.random.randint(jax.random.key(seed), (b, t), 0, DENSE.vocab_size, jnp.int32)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _forward(cfg, params, tokens):
  return model.Transformer(cfg).apply({"params": params}, tokens)[0]


def _with_moe(params, moe_params):
  layers = {k: v for k, v in params["layers"].items() if k != "mlp"}
  return {**params, "layers": {**layers, "moe": moe_params}}


@pytest.mark.parametrize("dispatch", ["dropless", "capacity"])
def test_one_expert_top1_equals_dense_swiglu(dispatch):
  dense = numpy_params(DENSE)
  cfg = dataclasses.replace(DENSE, moe=MoeConfig(experts=1, top_k=1, dispatch=dispatch,
                                                capacity_factor=1.0))  # capacity = every token
  mlp = dense["layers"]["mlp"]  # [L, D, F] -> one expert [L, 1, D, F]
  router = jnp.asarray(np.random.default_rng(3).normal(size=(2, 32, 1)), jnp.float32)
  params = _with_moe(dense, {"gate": mlp["gate"][:, None], "up": mlp["up"][:, None],
                             "down": mlp["down"][:, None], "router": router})
  tokens = _tokens(2, 16)
  out, ref = _forward(cfg, params, tokens), _forward(DENSE, dense, tokens)
  # Softmax over one expert is exactly 1.0, and the grouped / slotted matmuls sum in the
  # same order as the dense einsum: bit for bit the same logits.
  np.testing.assert_array_equal(out, ref)


def test_permuting_experts_with_router_changes_nothing():
  params = numpy_params(MOE)
  perm = np.array([2, 0, 3, 1])
  m = params["layers"]["moe"]
  permuted = _with_moe(params, {"gate": m["gate"][:, perm], "up": m["up"][:, perm],
                                "down": m["down"][:, perm], "router": m["router"][..., perm]})
  tokens = _tokens(2, 16)
  out = _forward(MOE, params, tokens)
  np.testing.assert_allclose(_forward(MOE, permuted, tokens), out, rtol=1e-5, atol=1e-6)
  # Permuting the experts without the router does change the output.
  shuffled = _with_moe(params, {**m, "gate": m["gate"][:, perm], "up": m["up"][:, perm],
                                "down": m["down"][:, perm]})
  assert not np.allclose(_forward(MOE, shuffled, tokens), out, atol=1e-4)


def test_route_top_k_softmax_and_sigmoid():
  logits = jnp.array([[2.0, 0.0, 1.0, -1.0], [0.0, 0.0, 3.0, 0.5]])
  for gating in ("softmax", "sigmoid"):
    cfg = _moe(gating=gating)
    w, e, probs = moe.route(logits, cfg)
    np.testing.assert_array_equal(e, [[0, 2], [2, 3]])
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)  # renormalised top-2
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    # The gate weights carry gradient back to the router logits.
    g = jax.grad(lambda l, c=cfg: jnp.sum(moe.route(l, c)[0] * jnp.array([1.0, 2.0])))(logits)
    assert np.all(np.abs(np.asarray(g)[[0, 0, 1, 1], [0, 2, 2, 3]]) > 0)
  scores = jax.nn.softmax(logits[0])
  w, _, _ = moe.route(logits, _moe(renormalize=False))
  np.testing.assert_allclose(w[0], scores[jnp.array([0, 2])], rtol=1e-6)


_router_stats = jax.jit(moe.router_stats)
_dropless = jax.jit(moe.dropless)
_capacity_dispatch = jax.jit(moe.capacity_dispatch, static_argnames=("slots",))


def test_router_stats_losses():
  N, E = 8, 4
  valid = jnp.ones((N,), bool)
  uniform = jnp.zeros((N, E))
  balanced = jnp.arange(N, dtype=jnp.int32)[:, None] % E
  s = _router_stats(uniform, jax.nn.softmax(uniform), balanced, valid, None)
  assert float(s["aux_loss"]) == pytest.approx(1.0)  # the balanced minimum
  assert float(s["z_loss"]) == pytest.approx(np.log(E) ** 2, rel=1e-6)
  assert float(s["entropy"]) == pytest.approx(np.log(E), rel=1e-6)
  np.testing.assert_allclose(s["load"], 0.25)
  collapsed = jnp.zeros((N, E)).at[:, 0].set(30.0)
  s = _router_stats(collapsed, jax.nn.softmax(collapsed), jnp.zeros((N, 1), jnp.int32),
                       valid, None)
  assert float(s["aux_loss"]) == pytest.approx(E, rel=1e-4)  # the collapsed maximum
  assert float(s["entropy"]) < 1e-6
  # Padding tokens do not count: the padded half routed elsewhere changes nothing.
  mixed = jnp.concatenate([jnp.zeros((4, 1), jnp.int32), jnp.full((4, 1), 3, jnp.int32)])
  half = jnp.arange(N) < 4
  s2 = _router_stats(collapsed, jax.nn.softmax(collapsed), mixed, half, None)
  np.testing.assert_allclose(s2["load"], [1.0, 0.0, 0.0, 0.0])
  assert float(s2["aux_loss"]) == pytest.approx(float(s["aux_loss"]), rel=1e-6)


def _expert_weights(E=4, D=4, F=8, seed=0):
  rng = np.random.default_rng(seed)
  return tuple(jnp.asarray(rng.normal(size=shape), jnp.float32)
               for shape in ((E, D, F), (E, D, F), (E, F, D)))


def test_capacity_drops_only_over_capacity():
  w = _expert_weights()
  x = jnp.asarray(np.random.default_rng(1).normal(size=(8, 4)), jnp.float32)
  experts = jnp.array([[0], [0], [0], [0], [0], [1], [2], [3]], jnp.int32)
  gates = jnp.ones((8, 1))
  valid = jnp.ones((8,), bool)
  ref = _dropless(x, gates, experts, w)
  # 3 slots: expert 0 gets 5 tokens, so exactly its 4th and 5th (in token order) drop.
  y, kept = _capacity_dispatch(x, gates, experts, valid, w, slots=3)
  np.testing.assert_array_equal(kept[0], [1, 1, 1, 0, 0, 1, 1, 1])
  np.testing.assert_allclose(y[np.asarray(kept[0])], ref[np.asarray(kept[0])], rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_array_equal(y[3:5], 0.0)
  # Enough slots: nothing dropped, the same function as dropless.
  y, kept = _capacity_dispatch(x, gates, experts, valid, w, slots=5)
  assert bool(jnp.all(kept))
  np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
  # Padding takes no slot: with tokens 0-1 padding, expert 0's five fit in three slots.
  pad = valid.at[:2].set(False)
  _, kept = _capacity_dispatch(x, gates, experts, pad, w, slots=3)
  np.testing.assert_array_equal(kept[0], [0, 0, 1, 1, 1, 1, 1, 1])
  # First choices are placed before any second choice.
  experts2 = jnp.array([[0, 1], [1, 0], [0, 2], [0, 3]], jnp.int32)
  pos, _ = moe.slot_positions(experts2, jnp.ones((4,), bool), 4)
  np.testing.assert_array_equal(pos, [[0, 0, 1, 2], [1, 3, 0, 0]])
  _, kept = _capacity_dispatch(x[:4], jnp.full((4, 2), 0.5), experts2, jnp.ones((4,), bool),
                                  w, slots=2)
  np.testing.assert_array_equal(kept, [[1, 1, 1, 0], [1, 0, 1, 1]])
  assert moe.capacity(8, _moe(capacity_factor=1.0)) == 4  # 8*2/4


_grads_loss_and_metrics = jax.jit(grads_loss_and_metrics, static_argnums=(1, 3, 4))


def _router_case():
  """A micro MoE model with the aux weights at 0: (cfg, model, params, batch, results)."""
  cfg, _ = micro_config(model__moe__experts=4, model__moe__top_k=2, model__moe__d_ff=16,
                        model__moe__aux_loss_weight=0.0, model__moe__z_loss_weight=0.0)
  params = numpy_params(dataclasses.replace(cfg.model, init_std=0.1))
  lm = model.Transformer(cfg.model)
  batch = jax.tree.map(jnp.asarray, synthetic_batch(cfg))
  batch["segment_ids"] = batch["segment_ids"].at[0, -5:].set(0)  # some padding
  results = _grads_loss_and_metrics(params, lm, batch, None, 1)
  return cfg, lm, params, batch, results


def test_router_gradients_and_metrics():
  cfg, _, _, _, (grads, loss, _, metrics) = _router_case()
  router_grad = np.asarray(grads["layers"]["moe"]["router"])  # [L, D, E]
  # The language-model loss alone (aux weights 0) reaches every layer's router.
  assert all(np.abs(router_grad[i]).sum() > 0 for i in range(cfg.model.n_layers))
  assert np.isfinite(float(loss))
  for layer in range(cfg.model.n_layers):
    loads = [float(metrics[f"moe/l{layer}/load_e{e}"]) for e in range(4)]
    assert sum(loads) == pytest.approx(1.0, rel=1e-5)
    assert 0.0 < float(metrics[f"moe/l{layer}/entropy"]) <= np.log(4) + 1e-6
    assert float(metrics[f"moe/l{layer}/max_load"]) == pytest.approx(4 * max(loads), rel=1e-5)
  assert float(metrics["moe/aux_loss"]) >= 1.0 - 1e-5  # its minimum is 1 (balanced)


@pytest.mark.slow
def test_grad_accumulation_and_remat_keep_moe_gradients():
  # With the aux weights at 0, accumulation over 2 microbatches and full remat give the
  # same gradients (the router stats ride through both).
  cfg, plain, params, batch, (grads, loss, _, metrics) = _router_case()
  remat = model.Transformer(dataclasses.replace(cfg.model, remat="full"))
  for m, accum in ((plain, 2), (remat, 1)):
    g, l, _, met = _grads_loss_and_metrics(params, m, batch, None, accum)
    assert float(l) == pytest.approx(float(loss), rel=1e-5)
    assert set(met) == set(metrics)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7), g, grads)


@pytest.mark.slow
def test_sharded_expert_axis_equals_unsharded():
  cfg, _ = micro_config(model__moe__experts=4, model__moe__top_k=2, model__moe__d_ff=16)
  batch = synthetic_batch(cfg)
  results = []
  for mesh_cfg, devices in [(MeshConfig(data=1), jax.devices()[:1]),
                            (MeshConfig(data=2, expert=4), jax.devices())]:
    c = dataclasses.replace(cfg, mesh=mesh_cfg)
    trainer = Trainer(c, sharding.make_mesh(mesh_cfg, devices))
    state = trainer.init_state(jax.random.key(0))
    with trainer.context():
      grads, loss, _, metrics = jax.jit(
          lambda p, b, m=trainer.model: grads_loss_and_metrics(p, m, b, None, 1))(
              state.params, trainer.put_batch(batch))
    results.append((float(loss), jax.device_get(grads), float(metrics["moe/aux_loss"]),
                    state.params))
  (l1, g1, a1, _), (l8, g8, a8, p8) = results
  gate = p8["layers"]["moe"]["gate"]  # [L, E, D, F], experts split 4 ways
  assert gate.sharding.spec[1] == "expert"
  assert gate.addressable_shards[0].data.shape[1] == 1
  assert l1 == pytest.approx(l8, rel=1e-5) and a1 == pytest.approx(a8, rel=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g1, g8)


def test_param_counts_and_active_flops():
  # Per MoE layer: router 32*4, experts 4 * 3 * 32 * 16 = 6144; a token uses 2 of 4.
  dense = model.count_params(model.abstract_params(DENSE))["total"]
  total = model.count_params(model.abstract_params(MOE))["total"]
  assert total == dense + 2 * (32 * 4 + 6144 - 3 * 32 * 64)
  assert moe.active_params(MOE, total) == total - 2 * 2 * 3 * 32 * 16
  shared = _moe(shared_expert=True)
  assert model.count_params(model.abstract_params(shared))["total"] == total + 2 * 3 * 32 * 16
  # FLOPs count active matmul params: the dense FFN (3*32*64) becomes router + 2 experts.
  delta = 2 * (32 * 4 + 2 * 3 * 32 * 16 - 3 * 32 * 64)
  assert model.flops_per_token(MOE, 16) == model.flops_per_token(DENSE, 16) + 6 * delta
  every2 = _moe(every=2)  # layer 1 MoE, layer 0 dense
  assert [every2.layer_is_moe(i) for i in range(2)] == [False, True]
  assert moe.moe_layers(every2) == [1]


def test_moe_every_other_layer_runs_grouped():
  cfg = _moe(every=2)
  params = numpy_params(cfg)
  assert set(params["layers"]) == {"block_0", "block_1"}
  assert "mlp" in params["layers"]["block_0"] and "moe" in params["layers"]["block_1"]
  out, state = jax.jit(lambda p, t: model.Transformer(cfg).apply(
      {"params": p}, t, mutable=["intermediates"]))(params, _tokens(2, 8))
  assert out[0].shape == (2, 8, 64)
  assert state["intermediates"]["moe"][0]["load"].shape == (1, 4)  # one MoE layer


def test_config_validation():
  with pytest.raises(ConfigError, match=r"model\.moe\.top_k"):
    _moe(top_k=5)
  with pytest.raises(ConfigError, match=r"model\.moe\.gating"):
    _moe(gating="relu")
  with pytest.raises(ConfigError, match=r"model\.moe\.dispatch"):
    _moe(dispatch="tokens")
  with pytest.raises(ConfigError, match="multiple of the layer pattern"):
    _moe(every=3)
