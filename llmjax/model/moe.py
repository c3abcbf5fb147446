"""Mixture-of-experts SwiGLU feed-forward: routing, dispatch, auxiliary losses, metrics.

Pure functions over plain arrays; the Flax module that owns the parameters is
`model.MoeMlp`. Shapes: N tokens (batch × length flattened), D d_model, E experts,
F expert hidden size, k top-k, A = N·k assignments (token, choice), C capacity slots per
expert.

Two dispatches compute the same function when nothing is dropped:
- dropless: assignments sorted by expert, one grouped matmul per weight
  (`jax.lax.ragged_dot`); no token is ever dropped, work = exactly A rows.
- capacity: each expert gets C = ceil(capacity_factor · A / E) slots, filled first-choice
  first, then in token order; assignments past C are dropped (the residual carries those
  tokens). Dense [E, C, D] buffers, so the expert axis shards like any other (GShard).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from llmjax.config import ModelConfig

Array = jax.Array
ExpertWeights = tuple[Array, Array, Array]  # gate_EDF, up_EDF, down_EFD


def route(logits_NE: Array, cfg: ModelConfig) -> tuple[Array, Array, Array]:
  """Top-k gate weights_Nk, experts_Nk (int32) and the router distribution probs_NE."""
  logits_NE = logits_NE.astype(jnp.float32)
  if cfg.moe.gating == "softmax":
    scores_NE = jax.nn.softmax(logits_NE, axis=-1)
  else:  # sigmoid: experts scored independently (DeepSeek-V3 style)
    scores_NE = jax.nn.sigmoid(logits_NE)
  weights_Nk, experts_Nk = jax.lax.top_k(scores_NE, cfg.moe.top_k)
  if cfg.moe.renormalize:
    weights_Nk = weights_Nk / jnp.sum(weights_Nk, axis=-1, keepdims=True)
  probs_NE = scores_NE / jnp.sum(scores_NE, axis=-1, keepdims=True)
  return weights_Nk, experts_Nk.astype(jnp.int32), probs_NE


def _swiglu_grouped(x_AD: Array, group_sizes_E: Array, w: ExpertWeights) -> Array:
  gate_EDF, up_EDF, down_EFD = w
  gate_AF = jax.lax.ragged_dot(x_AD, gate_EDF, group_sizes_E)
  up_AF = jax.lax.ragged_dot(x_AD, up_EDF, group_sizes_E)
  return jax.lax.ragged_dot(jax.nn.silu(gate_AF) * up_AF, down_EFD, group_sizes_E)


def dropless(x_ND: Array, weights_Nk: Array, experts_Nk: Array, w: ExpertWeights) -> Array:
  """Every assignment computed: sort by expert, grouped matmuls, unsort, weighted sum."""
  N, k = experts_Nk.shape
  E = w[0].shape[0]
  expert_A = experts_Nk.reshape(-1)  # a = n·k + choice
  order_A = jnp.argsort(expert_A, stable=True)
  x_AD = jnp.take(x_ND, order_A // k, axis=0)
  group_sizes_E = jnp.bincount(expert_A, length=E).astype(jnp.int32)
  y_AD = _swiglu_grouped(x_AD, group_sizes_E, w)
  inverse_A = jnp.zeros_like(order_A).at[order_A].set(jnp.arange(N * k, dtype=order_A.dtype))
  y_NkD = jnp.take(y_AD, inverse_A, axis=0).reshape(N, k, -1)
  return jnp.einsum("nkd,nk->nd", y_NkD, weights_Nk.astype(y_NkD.dtype))


def capacity(n_tokens: int, cfg: ModelConfig) -> int:
  return max(1, math.ceil(cfg.moe.capacity_factor * n_tokens * cfg.moe.top_k
                          / cfg.moe.experts))


def slot_positions(experts_Nk: Array, valid_N: Array, num_experts: int
                   ) -> tuple[Array, Array]:
  """Each assignment's slot in its expert's queue: pos_kN, plus valid_kN.

  Choice-major order (all first choices, then all second ...) so a token's first choice
  is never dropped in favour of another token's second choice; invalid (padding) tokens
  take no slot.
  """
  experts_kN = experts_Nk.T
  valid_kN = jnp.broadcast_to(valid_N, experts_kN.shape)
  onehot_AE = ((experts_kN.reshape(-1)[:, None] == jnp.arange(num_experts))
               & valid_kN.reshape(-1)[:, None]).astype(jnp.int32)
  pos_A = jnp.sum((jnp.cumsum(onehot_AE, axis=0) - 1) * onehot_AE, axis=-1)
  return pos_A.reshape(experts_kN.shape), valid_kN


def capacity_dispatch(x_ND: Array, weights_Nk: Array, experts_Nk: Array, valid_N: Array,
                      w: ExpertWeights, slots: int, constrain=lambda a, names: a
                      ) -> tuple[Array, Array]:
  """(y_ND, kept_kN): assignments beyond `slots` per expert contribute nothing."""
  gate_EDF, up_EDF, down_EFD = w
  E = gate_EDF.shape[0]
  pos_kN, valid_kN = slot_positions(experts_Nk, valid_N, E)
  kept_kN = valid_kN & (pos_kN < slots)
  experts_kN = experts_Nk.T
  slot_kN = jnp.where(kept_kN, pos_kN, slots)  # out of range: dropped by the scatter
  x_kND = jnp.broadcast_to(x_ND, (experts_kN.shape[0],) + x_ND.shape)
  buf_ECD = jnp.zeros((E, slots, x_ND.shape[-1]), x_ND.dtype).at[
      experts_kN, slot_kN].set(x_kND, mode="drop")
  buf_ECD = constrain(buf_ECD, ("expert", None, "act_embed"))
  h_ECF = (jax.nn.silu(jnp.einsum("ecd,edf->ecf", buf_ECD, gate_EDF))
           * jnp.einsum("ecd,edf->ecf", buf_ECD, up_EDF))
  y_ECD = constrain(jnp.einsum("ecf,efd->ecd", h_ECF, down_EFD), ("expert", None, "act_embed"))
  y_kND = y_ECD[experts_kN, jnp.minimum(slot_kN, slots - 1)]
  gate_kN = jnp.where(kept_kN, weights_Nk.T, 0.0).astype(y_kND.dtype)
  return jnp.einsum("knd,kn->nd", y_kND, gate_kN), kept_kN


def router_stats(logits_NE: Array, probs_NE: Array, experts_Nk: Array, valid_N: Array,
                 kept_kN: Array | None) -> dict[str, Array]:
  """Per-layer scalars over real (non-padding) tokens, all float32.

  aux_loss: E · Σ_e f_e · P_e (Switch / GShard), f_e = share of assignments routed to e,
    P_e = mean router probability of e; 1.0 when perfectly balanced.
  z_loss: mean logsumexp(logits)² (ST-MoE): keeps router logits small.
  load: f_e (sums to 1); entropy: mean router entropy (nats); dropped: share of
    assignments dropped by capacity (0 for dropless).
  """
  E = probs_NE.shape[-1]
  v_N = valid_N.astype(jnp.float32)
  n = jnp.maximum(jnp.sum(v_N), 1.0)
  k = experts_Nk.shape[-1]
  onehot_NE = jnp.sum(jax.nn.one_hot(experts_Nk, E, dtype=jnp.float32), axis=1)
  load_E = jnp.sum(onehot_NE * v_N[:, None], axis=0) / (n * k)
  mean_prob_E = jnp.sum(probs_NE * v_N[:, None], axis=0) / n
  z_N = jax.nn.logsumexp(logits_NE.astype(jnp.float32), axis=-1) ** 2
  entropy_N = -jnp.sum(probs_NE * jnp.log(jnp.maximum(probs_NE, 1e-30)), axis=-1)
  if kept_kN is None:
    dropped = jnp.zeros((), jnp.float32)
  else:
    dropped = 1.0 - jnp.sum(kept_kN.astype(jnp.float32)) / (n * k)
  return {"aux_loss": E * jnp.sum(jax.lax.stop_gradient(load_E) * mean_prob_E),
          "z_loss": jnp.sum(z_N * v_N) / n, "load": load_E,
          "entropy": jnp.sum(entropy_N * v_N) / n, "dropped": dropped}


def moe_layers(cfg: ModelConfig) -> list[int]:
  """Indices of the MoE layers, in the order their stats are stacked."""
  return [i for i in range(cfg.n_layers) if cfg.layer_is_moe(i)]


def aux_objective(stats: dict[str, Array], cfg: ModelConfig) -> Array:
  """Weighted auxiliary loss: mean over MoE layers, so weights do not scale with depth."""
  return (cfg.moe.aux_loss_weight * jnp.mean(stats["aux_loss"])
          + cfg.moe.z_loss_weight * jnp.mean(stats["z_loss"]))


def router_metrics(stats: dict[str, Array], cfg: ModelConfig) -> dict[str, Array]:
  """Flat scalar metrics for metrics.jsonl / TensorBoard from stats stacked over layers.

  moe/aux_loss, moe/z_loss (means over layers); per layer i: moe/l{i}/entropy,
  moe/l{i}/max_load (largest expert share × E: 1 = balanced, E = collapsed),
  moe/l{i}/dropped (capacity mode) and moe/l{i}/load_e{j} (share of expert j).
  """
  out: dict[str, Array] = {"moe/aux_loss": jnp.mean(stats["aux_loss"]),
                           "moe/z_loss": jnp.mean(stats["z_loss"])}
  E = cfg.moe.experts
  for row, layer in enumerate(moe_layers(cfg)):
    out[f"moe/l{layer}/entropy"] = stats["entropy"][row]
    out[f"moe/l{layer}/max_load"] = E * jnp.max(stats["load"][row])
    if cfg.moe.dispatch == "capacity":
      out[f"moe/l{layer}/dropped"] = stats["dropped"][row]
    for e in range(E):
      out[f"moe/l{layer}/load_e{e}"] = stats["load"][row, e]
  return out


def active_params(cfg: ModelConfig, total: int) -> int:
  """Parameters a token touches: routed experts count k of E (router, shared expert and
  everything else count fully)."""
  per_expert = 3 * cfg.d_model * cfg.expert_d_ff
  unused = len(moe_layers(cfg)) * (cfg.moe.experts - cfg.moe.top_k) * per_expert
  return total - unused


def ffn_matmul_params(cfg: ModelConfig, layer: int) -> int:
  """Matmul parameters one token uses in layer `layer`'s feed-forward (for FLOPs)."""
  D = cfg.d_model
  if not cfg.layer_is_moe(layer):
    return (3 if cfg.mlp_activation == "swiglu" else 2) * D * cfg.d_ff
  Fe = cfg.expert_d_ff
  shared = 3 * D * Fe if cfg.moe.shared_expert else 0
  return D * cfg.moe.experts + cfg.moe.top_k * 3 * D * Fe + shared


def stack_stats(stats: list[dict[str, Any]]) -> dict[str, Array] | None:
  if not stats:
    return None
  return jax.tree.map(lambda *xs: jnp.stack(xs), *stats)
