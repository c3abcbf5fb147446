"""Decoder-only transformer: pre-norm blocks of GQA self-attention with RoPE and SwiGLU.

Shapes: B batch, T query length, S key/value length (cache slots), D d_model, N query
heads, K key/value heads, H head_dim, R = H/2 rotary frequencies, F d_ff, V vocab,
L layers, E experts, G layers per scanned step (the period of a layer pattern). Variants
(config switches, off by default): mixture-of-experts feed-forward (MoeMlp,
llmjax/model/moe.py), sliding-window layers with a ring-buffer cache, QK-norm, logit
soft-caps, learned absolute positions instead of RoPE.

Three modes, one module: training / scoring (no cache), prefill (an empty cache is filled
with a batch of prompts: attention as in training, through the configured implementation)
and decoding (new tokens attend to the cache).

Parameters carry logical axis names ('vocab', 'embed', 'q_heads', 'kv_heads', 'head_dim',
'mlp', 'expert', 'norm', stacked layers: 'layers'); activations are constrained to ('batch',
'length', 'act_*'). The rules mapping names onto mesh axes come from the caller's
`nn.logical_axis_rules` context; without one (single device) the names are inert.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

from llmjax.config import ModelConfig
from llmjax.model import moe
from llmjax.model.attention import dot_product_attention, segment_mask, window_mask

Array = jax.Array
Rope = tuple[Array, Array] | None  # (sin_BT1R, cos_BT1R); None: learned absolute positions

_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "attn_out": jax.checkpoint_policies.save_only_these_names("attn_out"),
}


@flax.struct.dataclass
class KVCache:
  """Keys/values of every layer; `length` slots written so far.

  k and v are G-tuples (G = cfg.layer_group): entry j, [L/G, B, S_j, K, H], holds layers
  j, j+G, ... Global layers keep position p in slot p (S_j = max_len slots). Local
  (sliding-window) layers keep a ring buffer of S_j = min(window, max_len) slots, position p
  in slot p % S_j, so their memory does not grow with the generated length.
  Prompts of different lengths are left-padded to one length: row b's real tokens start at
  slot start_B[b], and nothing attends to the slots before it.
  """
  k: tuple[Array, ...]
  v: tuple[Array, ...]
  length: Array  # int32 scalar: slots written so far
  start_B: Array  # int32 [B]: first real slot of each row


def init_cache(cfg: ModelConfig, batch_size: int, max_len: int,
               start_B: Array | None = None) -> KVCache:
  def zeros(j: int) -> Array:
    window = cfg.layer_window(j)
    slots = min(window, max_len) if window else max_len
    shape = (cfg.n_layers // cfg.layer_group, batch_size, slots, cfg.n_kv_heads, cfg.head_dim)
    return jnp.zeros(shape, jnp.dtype(cfg.dtype))

  kv = tuple(zeros(j) for j in range(cfg.layer_group))
  start_B = jnp.zeros((batch_size,), jnp.int32) if start_B is None else start_B
  return KVCache(k=kv, v=kv, length=jnp.zeros((), jnp.int32),
                 start_B=jnp.asarray(start_B, jnp.int32))


def _constrain(x: Array, names: tuple[str, ...]) -> Array:
  return nn.with_logical_constraint(x, names)


def _param(module: nn.Module, name: str, shape: tuple[int, ...], names: tuple[str, ...],
           init: Any) -> Array:
  cfg = module.cfg
  return module.param(name, nn.with_logical_partitioning(init, names), shape,
                      jnp.dtype(cfg.param_dtype))


def _normal(cfg: ModelConfig, out_proj: bool = False):
  # Output projections are scaled by 1/sqrt(2L) so the residual stream's variance at init
  # does not grow with depth; with model.zero_init_out they start at zero (every block
  # starts as the identity, as in modded-nanogpt).
  if out_proj and cfg.zero_init_out:
    return nn.initializers.zeros
  std = cfg.init_std / math.sqrt(2 * cfg.n_layers) if out_proj else cfg.init_std
  return nn.initializers.normal(std)


# --- RoPE -------------------------------------------------------------------------------
# Half-split layout (as in LLaMA / GPT-NeoX): dimension i is paired with i + H/2 and the
# pair is rotated by angle position * theta^(-2i/H).


def rope_tables(positions_BT: Array, head_dim: int, theta: float) -> Rope:
  inv_freq_R = theta ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)
  angles_BTR = positions_BT.astype(jnp.float32)[..., None] * inv_freq_R
  return jnp.sin(angles_BTR)[:, :, None, :], jnp.cos(angles_BTR)[:, :, None, :]


def apply_rope(x_BTNH: Array, rope: Rope) -> Array:
  sin_BT1R, cos_BT1R = rope
  x1_BTNR, x2_BTNR = jnp.split(x_BTNH.astype(jnp.float32), 2, axis=-1)
  out_BTNH = jnp.concatenate([x1_BTNR * cos_BT1R - x2_BTNR * sin_BT1R,
                              x2_BTNR * cos_BT1R + x1_BTNR * sin_BT1R], axis=-1)
  return out_BTNH.astype(x_BTNH.dtype)


# --- layers -----------------------------------------------------------------------------


class RMSNorm(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BTD: Array) -> Array:
    scale_D = _param(self, "scale", (x_BTD.shape[-1],), ("norm",), nn.initializers.ones)
    x32_BTD = x_BTD.astype(jnp.float32)  # statistics in fp32 even for bf16 compute
    inv_rms_BT1 = jax.lax.rsqrt(jnp.mean(x32_BTD ** 2, axis=-1, keepdims=True)
                                + self.cfg.norm_eps)
    return (x32_BTD * inv_rms_BT1 * scale_D.astype(jnp.float32)).astype(self.cfg.dtype)


@flax.struct.dataclass
class CacheStep:
  """What every layer needs to read and write its cache in one decoding call."""
  length: Array  # int32 scalar: slots written before this call
  start_B: Array  # int32 [B]: first real slot of each row
  prefill: bool = flax.struct.field(pytree_node=False)  # the cache is empty: fill it


def _ring_write(ring_BRKH: Array, new_BTKH: Array, length: Array) -> Array:
  """The newest min(T, R) of T new entries written to a ring of R slots at position % R."""
  R, T = ring_BRKH.shape[1], new_BTKH.shape[1]
  m = min(T, R)  # static; distinct slots, so the scatter order does not matter
  slots_m = jnp.mod(length + T - m + jnp.arange(m, dtype=jnp.int32), R)
  return ring_BRKH.at[:, slots_m].set(new_BTKH[:, T - m:].astype(ring_BRKH.dtype))


def _ring_attention_inputs(k_BRKH: Array, v_BRKH: Array, k_BTKH: Array, v_BTKH: Array,
                           step: CacheStep, window: int
                           ) -> tuple[Array, Array, Array]:
  """Local-layer decoding: keys/values = ring (R slots) ++ the T new ones, and the mask by
  absolute position (window, slots never written, left padding).

  Attending over ring ++ new (not the updated ring) lets a chunk longer than the window
  still see, for each of its queries, the keys the chunk itself overwrites.
  """
  R, T = k_BRKH.shape[1], k_BTKH.shape[1]
  length = step.length
  old_pos_R = length - 1 - jnp.mod(length - 1 - jnp.arange(R, dtype=jnp.int32), R)
  q_pos_T = length + jnp.arange(T, dtype=jnp.int32)
  kv_pos_S = jnp.concatenate([old_pos_R, q_pos_T])
  mask_TS = window_mask(q_pos_T, kv_pos_S, window) & (kv_pos_S >= 0)[None]
  real_BS = kv_pos_S[None, :] >= step.start_B[:, None]
  mask_B1TS = mask_TS[None, None] & real_BS[:, None, None, :]
  keys_BSKH = jnp.concatenate([k_BRKH.astype(k_BTKH.dtype), k_BTKH], axis=1)
  values_BSKH = jnp.concatenate([v_BRKH.astype(v_BTKH.dtype), v_BTKH], axis=1)
  return keys_BSKH, values_BSKH, mask_B1TS


def _cache_mask(step: CacheStep, T: int, S: int) -> Array:
  """Query i sits at slot length + i and sees the real slots up to its own: mask_B1TS."""
  q_slot_T = step.length + jnp.arange(T, dtype=jnp.int32)
  kv_slot_S = jnp.arange(S, dtype=jnp.int32)
  causal_TS = kv_slot_S[None, :] <= q_slot_T[:, None]
  real_BS = kv_slot_S[None, :] >= step.start_B[:, None]
  return causal_TS[None, None] & real_BS[:, None, None, :]


class Attention(nn.Module):
  cfg: ModelConfig
  window: int = 0  # sliding window in tokens; 0 = global

  @nn.compact
  def __call__(self, x_BTD: Array, rope: Rope, mask_B1TS: Array | None,
               layer_cache: tuple[Array, Array] | None, step: CacheStep | None
               ) -> tuple[Array, tuple[Array, Array] | None]:
    cfg = self.cfg
    dt = jnp.dtype(cfg.dtype)
    D, N, K, H = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    wq_DNH = _param(self, "wq", (D, N, H), ("embed", "q_heads", "head_dim"), _normal(cfg))
    wk_DKH = _param(self, "wk", (D, K, H), ("embed", "kv_heads", "head_dim"), _normal(cfg))
    wv_DKH = _param(self, "wv", (D, K, H), ("embed", "kv_heads", "head_dim"), _normal(cfg))
    wo_NHD = _param(self, "wo", (N, H, D), ("q_heads", "head_dim", "embed"),
                    _normal(cfg, out_proj=True))

    q_BTNH = jnp.einsum("btd,dnh->btnh", x_BTD, wq_DNH.astype(dt))
    k_BTKH = jnp.einsum("btd,dkh->btkh", x_BTD, wk_DKH.astype(dt))
    v_BTKH = jnp.einsum("btd,dkh->btkh", x_BTD, wv_DKH.astype(dt))
    if cfg.qk_norm:  # per-head RMSNorm: bounds the scores' scale (OLMo 2, Gemma 3)
      q_BTNH = RMSNorm(cfg, name="q_norm")(q_BTNH)
      k_BTKH = RMSNorm(cfg, name="k_norm")(k_BTKH)
    if rope is not None:
      q_BTNH, k_BTKH = apply_rope(q_BTNH, rope), apply_rope(k_BTKH, rope)
    q_BTNH = _constrain(q_BTNH, ("batch", "length", "act_heads", "head_dim"))
    attend = functools.partial(dot_product_attention, impl=cfg.attention_impl,
                               softcap=cfg.attn_logit_softcap)

    if step is None or step.prefill:
      # Training, scoring and prefill: causal (+ window) + segment mask (cuDNN's fast path).
      out_BTNH = attend(q_BTNH, k_BTKH, v_BTKH, mask_B1TS, causal=True, window=self.window)
      if step is not None:  # prefill: the prompt's keys/values fill the empty cache
        k_cache, v_cache = layer_cache
        if self.window:
          layer_cache = (_ring_write(k_cache, k_BTKH, step.length),
                         _ring_write(v_cache, v_BTKH, step.length))
        else:
          start = (0, step.length, 0, 0)
          layer_cache = (jax.lax.dynamic_update_slice(k_cache, k_BTKH.astype(k_cache.dtype), start),
                         jax.lax.dynamic_update_slice(v_cache, v_BTKH.astype(v_cache.dtype), start))
    elif self.window:
      k_ring, v_ring = layer_cache
      keys_BSKH, values_BSKH, mask_B1TS = _ring_attention_inputs(
          k_ring, v_ring, k_BTKH, v_BTKH, step, self.window)
      out_BTNH = attend(q_BTNH, keys_BSKH, values_BSKH, mask_B1TS, causal=False)
      layer_cache = (_ring_write(k_ring, k_BTKH, step.length),
                     _ring_write(v_ring, v_BTKH, step.length))
    else:
      # Decoding, global layer: write the new k/v at slots [len, len+T), attend by slot.
      k_BSKH, v_BSKH = layer_cache
      start = (0, step.length, 0, 0)
      k_BSKH = jax.lax.dynamic_update_slice(k_BSKH, k_BTKH.astype(k_BSKH.dtype), start)
      v_BSKH = jax.lax.dynamic_update_slice(v_BSKH, v_BTKH.astype(v_BSKH.dtype), start)
      layer_cache = (k_BSKH, v_BSKH)
      mask_B1TS = _cache_mask(step, x_BTD.shape[1], k_BSKH.shape[1])
      out_BTNH = attend(q_BTNH, k_BSKH.astype(dt), v_BSKH.astype(dt), mask_B1TS, causal=False)
    out_BTNH = checkpoint_name(out_BTNH, "attn_out")  # what remat='attn_out' keeps
    out_BTNH = _constrain(out_BTNH, ("batch", "length", "act_heads", "head_dim"))
    return jnp.einsum("btnh,nhd->btd", out_BTNH, wo_NHD.astype(dt)), layer_cache


class Mlp(nn.Module):
  """SwiGLU (silu(x W_gate) * x W_up) W_down, or with model.mlp_activation='relu2'
  relu(x W_up)^2 W_down (no gate: the modded-nanogpt MLP)."""
  cfg: ModelConfig
  d_ff: int = 0  # 0 = cfg.d_ff

  @nn.compact
  def __call__(self, x_BTD: Array) -> Array:
    cfg = self.cfg
    dt = jnp.dtype(cfg.dtype)
    D, F = cfg.d_model, self.d_ff or cfg.d_ff
    if cfg.mlp_activation == "swiglu":
      gate_DF = _param(self, "gate", (D, F), ("embed", "mlp"), _normal(cfg))
    up_DF = _param(self, "up", (D, F), ("embed", "mlp"), _normal(cfg))
    down_FD = _param(self, "down", (F, D), ("mlp", "embed"), _normal(cfg, out_proj=True))
    up_BTF = jnp.einsum("btd,df->btf", x_BTD, up_DF.astype(dt))
    if cfg.mlp_activation == "swiglu":
      gate_BTF = jnp.einsum("btd,df->btf", x_BTD, gate_DF.astype(dt))
      h_BTF = nn.silu(gate_BTF) * up_BTF
    else:
      h_BTF = jnp.square(nn.relu(up_BTF))
    h_BTF = _constrain(h_BTF, ("batch", "length", "act_mlp"))
    return jnp.einsum("btf,fd->btd", h_BTF, down_FD.astype(dt))


class MoeMlp(nn.Module):
  """Routed SwiGLU experts (+ optional shared expert); returns (y, router stats)."""
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BTD: Array, valid_BT: Array | None, decoding: bool
               ) -> tuple[Array, dict[str, Array]]:
    cfg = self.cfg
    dt = jnp.dtype(cfg.dtype)
    D, E, F = cfg.d_model, cfg.moe.experts, cfg.expert_d_ff
    router_DE = _param(self, "router", (D, E), ("embed", None), _normal(cfg))
    gate_EDF = _param(self, "gate", (E, D, F), ("expert", "embed", "mlp"), _normal(cfg))
    up_EDF = _param(self, "up", (E, D, F), ("expert", "embed", "mlp"), _normal(cfg))
    down_EFD = _param(self, "down", (E, F, D), ("expert", "mlp", "embed"),
                      _normal(cfg, out_proj=True))
    n_tokens = x_BTD.shape[0] * x_BTD.shape[1]
    x_ND = x_BTD.reshape(n_tokens, D)
    # Router in fp32: near-tied logits must not flip with bf16 rounding.
    logits_NE = jnp.einsum("nd,de->ne", x_ND.astype(jnp.float32), router_DE)
    weights_Nk, experts_Nk, probs_NE = moe.route(logits_NE, cfg)
    valid_N = jnp.ones((n_tokens,), bool) if valid_BT is None else valid_BT.reshape(-1)
    w = (gate_EDF.astype(dt), up_EDF.astype(dt), down_EFD.astype(dt))
    kept_kN = None
    if cfg.moe.dispatch == "capacity" and not decoding:  # decoding never drops
      y_ND, kept_kN = moe.capacity_dispatch(x_ND, weights_Nk, experts_Nk, valid_N, w,
                                            moe.capacity(n_tokens, cfg), _constrain)
    else:
      y_ND = moe.dropless(x_ND, weights_Nk, experts_Nk, w)
    y_BTD = y_ND.reshape(x_BTD.shape).astype(dt)
    if cfg.moe.shared_expert:
      y_BTD = y_BTD + Mlp(cfg, d_ff=F, name="shared")(x_BTD)
    return y_BTD, moe.router_stats(logits_NE, probs_NE, experts_Nk, valid_N, kept_kN)


class Block(nn.Module):
  """One pre-norm layer: (x, layer_cache) -> (x, (layer_cache, router stats or None))."""
  cfg: ModelConfig
  deterministic: bool = True
  window: int = 0  # sliding window in tokens; 0 = global attention
  moe: bool = False  # routed experts instead of the dense SwiGLU

  @nn.compact
  def __call__(self, x_BTD: Array, layer_cache: tuple[Array, Array] | None, rope: Rope,
               mask_B1TS: Array | None, step: CacheStep | None,
               valid_BT: Array | None = None) -> tuple[Array, Any]:
    cfg = self.cfg
    h_BTD = RMSNorm(cfg, name="attn_norm")(x_BTD)
    h_BTD, layer_cache = Attention(cfg, self.window, name="attn")(
        h_BTD, rope, mask_B1TS, layer_cache, step)
    x_BTD = x_BTD + nn.Dropout(cfg.dropout)(h_BTD, deterministic=self.deterministic)
    h_BTD = RMSNorm(cfg, name="mlp_norm")(x_BTD)
    if self.moe:
      h_BTD, stats = MoeMlp(cfg, name="moe")(h_BTD, valid_BT, step is not None)
    else:
      h_BTD, stats = Mlp(cfg, name="mlp")(h_BTD), None
    x_BTD = x_BTD + nn.Dropout(cfg.dropout)(h_BTD, deterministic=self.deterministic)
    return _constrain(x_BTD, ("batch", "length", "act_embed")), (layer_cache, stats)


class BlockGroup(nn.Module):
  """One period of a layer pattern (e.g. local, local, global): the scan body when layers
  differ. Each block keeps a static window / MoE flag, so cuDNN sees static windows."""
  cfg: ModelConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x_BTD: Array, group_cache: tuple | None, rope: Rope,
               mask_B1TS: Array | None, step: CacheStep | None,
               valid_BT: Array | None = None) -> tuple[Array, Any]:
    cfg = self.cfg
    caches, stats = [], []
    for j in range(cfg.layer_group):
      x_BTD, (c, s) = Block(cfg, self.deterministic, cfg.layer_window(j),
                            cfg.layer_is_moe(j), name=f"block_{j}")(
          x_BTD, None if group_cache is None else group_cache[j], rope, mask_B1TS,
          step, valid_BT)
      caches.append(c)
      if s is not None:
        stats.append(s)
    return x_BTD, (None if group_cache is None else tuple(caches), moe.stack_stats(stats))


def _layer_stack(cfg: ModelConfig) -> type[nn.Module]:
  block = Block if cfg.layer_group == 1 else BlockGroup
  if cfg.remat != "none":
    # prevent_cse=False: the scan already stops XLA from merging recomputation away.
    block = nn.remat(block, policy=_REMAT_POLICIES[cfg.remat], prevent_cse=False)
  return nn.scan(
      block, variable_axes={"params": 0}, split_rngs={"params": True, "dropout": True},
      in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast, nn.broadcast),
      length=cfg.n_layers // cfg.layer_group,
      unroll=min(cfg.scan_unroll, cfg.n_layers // cfg.layer_group),
      metadata_params={nn.PARTITION_NAME: "layers"})


class Transformer(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, tokens_BT: Array | None, *, positions_BT: Array | None = None,
               segment_ids_BT: Array | None = None, cache: KVCache | None = None,
               prefill: bool = False, deterministic: bool = True,
               embeddings_BTD: Array | None = None) -> tuple[Array, KVCache | None]:
    """Logits (float32) for every position, and the advanced cache when one is given.

    segment_ids_BT: packed rows; 0 = padding, tokens attend causally within their own
      segment only. None = one segment.
    cache: decoding; the T new tokens fill slots [cache.length, cache.length + T).
    prefill: the cache is empty and the T tokens are (left-padded) prompts: attention runs
      as in training, masked by segment_ids_BT (0 = left padding).
    embeddings_BTD: used instead of looking up tokens_BT (for gradients w.r.t. inputs).
    """
    cfg = self.cfg
    dt = jnp.dtype(cfg.dtype)
    embedding_VD = _param(self, "embedding", (cfg.vocab_size, cfg.d_model),
                          ("vocab", "embed"), _normal(cfg))
    if embeddings_BTD is None:
      # Gather from a replicated copy: gathering from the sharded table makes the SPMD
      # partitioner replicate and re-split the activations instead.
      table_VD = _constrain(embedding_VD.astype(dt), (None, None))
      x_BTD = jnp.take(table_VD, tokens_BT, axis=0)
    else:
      x_BTD = embeddings_BTD.astype(dt)
    x_BTD = _constrain(x_BTD, ("batch", "length", "act_embed"))
    B, T = x_BTD.shape[:2]

    if positions_BT is None:
      offset = 0 if cache is None else cache.length
      positions_BT = jnp.broadcast_to(offset + jnp.arange(T, dtype=jnp.int32), (B, T))
      if cache is not None:  # left padding: a row's first real token is position 0
        positions_BT = jnp.maximum(positions_BT - cache.start_B[:, None], 0)
    if cfg.position_embedding == "learned":  # the ablation baseline for RoPE
      table_PD = _param(self, "position_embedding", (cfg.max_seq_len, cfg.d_model),
                        (None, "embed"), _normal(cfg))
      x_BTD = x_BTD + jnp.take(table_PD.astype(dt), positions_BT, axis=0, mode="clip")
      rope = None
    else:
      rope = rope_tables(positions_BT, cfg.head_dim, cfg.rope_theta)

    if cache is not None and not prefill and segment_ids_BT is not None:
      raise ValueError("segment_ids_BT with a cache is only for prefill=True")
    mask_B1TS = None if segment_ids_BT is None else segment_mask(segment_ids_BT,
                                                                 segment_ids_BT)
    step = None if cache is None else CacheStep(cache.length, cache.start_B, prefill)
    valid_BT = None if segment_ids_BT is None else segment_ids_BT > 0

    G = cfg.layer_group
    block_kw = {} if G > 1 else {"window": cfg.layer_window(0), "moe": cfg.layer_is_moe(0)}
    x_BTD, (layer_cache, stats) = _layer_stack(cfg)(
        cfg, deterministic, name="layers", **block_kw)(
            x_BTD, _scan_cache(cache, G), rope, mask_B1TS, step, valid_BT)
    if stats is not None:
      # [L/G, MoE blocks per group, ...] -> [MoE layers, ...] in layer order.
      if G > 1:
        stats = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), stats)
      self.sow("intermediates", "moe", stats)  # read by training.step (mutable=...)
    x_BTD = RMSNorm(cfg, name="final_norm")(x_BTD)

    if cfg.tie_embeddings:
      logits_BTV = jnp.einsum("btd,vd->btv", x_BTD, embedding_VD.astype(dt),
                              preferred_element_type=jnp.float32)
    else:
      unembedding_DV = _param(self, "unembedding", (cfg.d_model, cfg.vocab_size),
                              ("embed", "vocab"), _normal(cfg))
      logits_BTV = jnp.einsum("btd,dv->btv", x_BTD, unembedding_DV.astype(dt),
                              preferred_element_type=jnp.float32)
    logits_BTV = logits_BTV.astype(jnp.float32)
    if cfg.final_logit_softcap:
      cap = cfg.final_logit_softcap
      logits_BTV = cap * jnp.tanh(logits_BTV / cap)
    logits_BTV = _constrain(logits_BTV, ("batch", "length", "act_vocab"))

    if cache is not None:
      cache = _cache_from_scan(layer_cache, G, cache, T)
    return logits_BTV, cache


def _scan_cache(cache: KVCache | None, G: int):
  """The scanned layer stack's view of the cache: (k, v) per step for one layer kind
  (G == 1, the scan body is a Block), or G such pairs (the body is a BlockGroup)."""
  if cache is None:
    return None
  pairs = tuple(zip(cache.k, cache.v))
  return pairs[0] if G == 1 else pairs


def _cache_from_scan(layer_cache, G: int, cache: KVCache, T: int) -> KVCache:
  pairs = (layer_cache,) if G == 1 else layer_cache
  return KVCache(k=tuple(p[0] for p in pairs), v=tuple(p[1] for p in pairs),
                 length=cache.length + T, start_B=cache.start_B)


# --- helpers ----------------------------------------------------------------------------


def _init(cfg: ModelConfig, rng: Array) -> Any:
  return Transformer(cfg).init({"params": rng}, jnp.zeros((1, 2), jnp.int32))["params"]


@functools.partial(jax.jit, static_argnums=0)
def init_params(cfg: ModelConfig, rng: Array) -> Any:
  """Boxed (nn.Partitioned) parameters on one device; `nn.unbox` for plain arrays.

  Sharded training inits inside its own jit under the mesh (llmjax.training.sharded).
  """
  return _init(cfg, rng)


def abstract_params(cfg: ModelConfig) -> Any:
  """Boxed ShapeDtypeStructs: no memory, no compute."""
  return jax.eval_shape(functools.partial(_init, cfg), jax.random.key(0))


def logical_partition_specs(cfg: ModelConfig) -> Any:
  """PartitionSpecs of logical axis names per parameter (map with nn.logical_to_mesh_*)."""
  return nn.get_partition_spec(abstract_params(cfg))


def count_params(params: Any) -> dict[str, int]:
  """total; embedding = input table + untied unembedding; non_embedding = the rest."""
  params = nn.unbox(params)
  total = sum(int(math.prod(p.shape)) for p in jax.tree.leaves(params))
  embedding = sum(int(math.prod(params[name].shape))
                  for name in ("embedding", "unembedding") if name in params)
  return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def active_params(cfg: ModelConfig, params: Any) -> int:
  """Parameters one token uses: total minus the routed experts it is not sent to."""
  return moe.active_params(cfg, count_params(params)["total"])


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
  """Training FLOPs per token (forward + backward), as PaLM / nanoGPT count them.

  6 * M + 12 * N * H * sum over layers of the keys a query sees, where M = parameters
  used in matmuls per token (q, k, v, o, gate, up, down per layer -- for an MoE layer the
  router, k routed experts and the shared expert: active, not total -- plus the D x V
  unembedding whether tied or not; the input embedding lookup, learned positions and
  norms excluded) and the second term is attention scores and values, without
  discounting the causal half: seq_len keys for a global layer, min(window, seq_len) for
  a local one.
  """
  D, N, K, H = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
  attn_params = D * N * H + 2 * D * K * H + N * H * D
  matmul_params = (sum(attn_params + moe.ffn_matmul_params(cfg, i)
                       for i in range(cfg.n_layers)) + D * cfg.vocab_size)
  keys = sum(min(cfg.layer_window(i) or seq_len, seq_len) for i in range(cfg.n_layers))
  return float(6 * matmul_params + 12 * N * H * keys)
