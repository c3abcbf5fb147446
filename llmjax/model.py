"""Decoder-only transformer: pre-norm blocks of GQA self-attention with RoPE and SwiGLU.

Shapes: B batch, T query length, S key/value length (cache slots), D d_model, N query
heads, K key/value heads, H head_dim, R = H/2 rotary frequencies, F d_ff, V vocab,
L layers.

Parameters carry logical axis names ('vocab', 'embed', 'q_heads', 'kv_heads', 'head_dim',
'mlp', 'norm', stacked layers: 'layers'); activations are constrained to ('batch',
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

from llmjax.attention import dot_product_attention, segment_mask
from llmjax.config import ModelConfig
from llmjax.errors import ConfigError

Array = jax.Array
Rope = tuple[Array, Array]  # (sin_BT1R, cos_BT1R)

_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "attn_out": jax.checkpoint_policies.save_only_these_names("attn_out"),
}


@flax.struct.dataclass
class KVCache:
  """Keys/values of every layer for slots [0, length); slots beyond are unused."""
  k_LBSKH: Array
  v_LBSKH: Array
  length: Array  # int32 scalar: filled slots


def init_cache(cfg: ModelConfig, batch_size: int, max_len: int) -> KVCache:
  shape = (cfg.n_layers, batch_size, max_len, cfg.n_kv_heads, cfg.head_dim)
  zeros = jnp.zeros(shape, jnp.dtype(cfg.dtype))
  return KVCache(k_LBSKH=zeros, v_LBSKH=zeros, length=jnp.zeros((), jnp.int32))


def _constrain(x: Array, names: tuple[str, ...]) -> Array:
  return nn.with_logical_constraint(x, names)


def _param(module: nn.Module, name: str, shape: tuple[int, ...], names: tuple[str, ...],
           init: Any) -> Array:
  cfg = module.cfg
  return module.param(name, nn.with_logical_partitioning(init, names), shape,
                      jnp.dtype(cfg.param_dtype))


def _normal(cfg: ModelConfig, out_proj: bool = False):
  # Output projections are scaled by 1/sqrt(2L) so the residual stream's variance at init
  # does not grow with depth.
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


class Attention(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BTD: Array, rope: Rope, mask_B1TS: Array | None,
               layer_cache: tuple[Array, Array] | None, cache_len: Array | None
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
    q_BTNH = _constrain(apply_rope(q_BTNH, rope), ("batch", "length", "act_heads", "head_dim"))
    k_BTKH = apply_rope(k_BTKH, rope)

    if layer_cache is None:
      # Training / full forward: causal + segment mask (the cuDNN fast path).
      out_BTNH = dot_product_attention(q_BTNH, k_BTKH, v_BTKH, mask_B1TS, causal=True,
                                       impl=cfg.attention_impl)
    else:
      # Decoding: write the new k/v at slots [len, len+T), attend by slot index (the mask
      # was built by the caller); XLA handles the T != S mask.
      k_BSKH, v_BSKH = layer_cache
      start = (0, cache_len, 0, 0)
      k_BSKH = jax.lax.dynamic_update_slice(k_BSKH, k_BTKH.astype(k_BSKH.dtype), start)
      v_BSKH = jax.lax.dynamic_update_slice(v_BSKH, v_BTKH.astype(v_BSKH.dtype), start)
      layer_cache = (k_BSKH, v_BSKH)
      out_BTNH = dot_product_attention(q_BTNH, k_BSKH.astype(dt), v_BSKH.astype(dt),
                                       mask_B1TS, causal=False, impl="xla")
    out_BTNH = checkpoint_name(out_BTNH, "attn_out")  # what remat='attn_out' keeps
    out_BTNH = _constrain(out_BTNH, ("batch", "length", "act_heads", "head_dim"))
    return jnp.einsum("btnh,nhd->btd", out_BTNH, wo_NHD.astype(dt)), layer_cache


class Mlp(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BTD: Array) -> Array:
    cfg = self.cfg
    dt = jnp.dtype(cfg.dtype)
    D, F = cfg.d_model, cfg.d_ff
    gate_DF = _param(self, "gate", (D, F), ("embed", "mlp"), _normal(cfg))
    up_DF = _param(self, "up", (D, F), ("embed", "mlp"), _normal(cfg))
    down_FD = _param(self, "down", (F, D), ("mlp", "embed"), _normal(cfg, out_proj=True))
    gate_BTF = jnp.einsum("btd,df->btf", x_BTD, gate_DF.astype(dt))
    up_BTF = jnp.einsum("btd,df->btf", x_BTD, up_DF.astype(dt))
    h_BTF = _constrain(nn.silu(gate_BTF) * up_BTF, ("batch", "length", "act_mlp"))
    return jnp.einsum("btf,fd->btd", h_BTF, down_FD.astype(dt))


class Block(nn.Module):
  """One pre-norm layer; the scan body: (x, layer_cache) -> (x, layer_cache)."""
  cfg: ModelConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x_BTD: Array, layer_cache: tuple[Array, Array] | None, rope: Rope,
               mask_B1TS: Array | None, cache_len: Array | None
               ) -> tuple[Array, tuple[Array, Array] | None]:
    cfg = self.cfg
    h_BTD = RMSNorm(cfg, name="attn_norm")(x_BTD)
    h_BTD, layer_cache = Attention(cfg, name="attn")(h_BTD, rope, mask_B1TS, layer_cache,
                                                     cache_len)
    x_BTD = x_BTD + nn.Dropout(cfg.dropout)(h_BTD, deterministic=self.deterministic)
    h_BTD = Mlp(cfg, name="mlp")(RMSNorm(cfg, name="mlp_norm")(x_BTD))
    x_BTD = x_BTD + nn.Dropout(cfg.dropout)(h_BTD, deterministic=self.deterministic)
    return _constrain(x_BTD, ("batch", "length", "act_embed")), layer_cache


def _layer_stack(cfg: ModelConfig) -> type[nn.Module]:
  block = Block
  if cfg.remat != "none":
    # prevent_cse=False: the scan already stops XLA from merging recomputation away.
    block = nn.remat(block, policy=_REMAT_POLICIES[cfg.remat], prevent_cse=False)
  return nn.scan(
      block, variable_axes={"params": 0}, split_rngs={"params": True, "dropout": True},
      in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast), length=cfg.n_layers,
      metadata_params={nn.PARTITION_NAME: "layers"})


class Transformer(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, tokens_BT: Array | None, *, positions_BT: Array | None = None,
               segment_ids_BT: Array | None = None, cache: KVCache | None = None,
               deterministic: bool = True, embeddings_BTD: Array | None = None
               ) -> tuple[Array, KVCache | None]:
    """Logits (float32) for every position, and the advanced cache when one is given.

    segment_ids_BT: packed rows; 0 = padding, tokens attend causally within their own
      segment only. None = one segment. Not supported together with a cache.
    cache: decode mode; the T new tokens fill slots [cache.length, cache.length + T).
    embeddings_BTD: used instead of looking up tokens_BT (for gradients w.r.t. inputs).
    """
    cfg = self.cfg
    if not cfg.scan_layers:
      raise ConfigError("model.scan_layers=False is not supported; layers are always scanned")
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

    offset = 0 if cache is None else cache.length
    if positions_BT is None:
      positions_BT = jnp.broadcast_to(offset + jnp.arange(T, dtype=jnp.int32), (B, T))
    rope = rope_tables(positions_BT, cfg.head_dim, cfg.rope_theta)

    if cache is None:
      layer_cache, cache_len = None, None
      mask_B1TS = None if segment_ids_BT is None else segment_mask(segment_ids_BT,
                                                                   segment_ids_BT)
    else:
      if segment_ids_BT is not None:
        raise ValueError("segment_ids_BT is not supported with a KV cache")
      layer_cache, cache_len = (cache.k_LBSKH, cache.v_LBSKH), cache.length
      mask_B1TS = _cache_mask(cache.length, T, cache.k_LBSKH.shape[2])

    x_BTD, layer_cache = _layer_stack(cfg)(cfg, deterministic, name="layers")(
        x_BTD, layer_cache, rope, mask_B1TS, cache_len)
    x_BTD = RMSNorm(cfg, name="final_norm")(x_BTD)

    if cfg.tie_embeddings:
      logits_BTV = jnp.einsum("btd,vd->btv", x_BTD, embedding_VD.astype(dt),
                              preferred_element_type=jnp.float32)
    else:
      unembedding_DV = _param(self, "unembedding", (cfg.d_model, cfg.vocab_size),
                              ("embed", "vocab"), _normal(cfg))
      logits_BTV = jnp.einsum("btd,dv->btv", x_BTD, unembedding_DV.astype(dt),
                              preferred_element_type=jnp.float32)
    logits_BTV = _constrain(logits_BTV.astype(jnp.float32), ("batch", "length", "act_vocab"))

    if cache is not None:
      cache = KVCache(k_LBSKH=layer_cache[0], v_LBSKH=layer_cache[1],
                      length=cache.length + T)
    return logits_BTV, cache


def _cache_mask(length: Array, T: int, S: int) -> Array:
  """Query i sits at slot length + i and sees slots <= its own: mask_11TS."""
  q_slot_T = length + jnp.arange(T, dtype=jnp.int32)
  kv_slot_S = jnp.arange(S, dtype=jnp.int32)
  return (kv_slot_S[None, :] <= q_slot_T[:, None])[None, None]


# --- helpers ----------------------------------------------------------------------------


def _init(cfg: ModelConfig, rng: Array) -> Any:
  return Transformer(cfg).init({"params": rng}, jnp.zeros((1, 2), jnp.int32))["params"]


@functools.partial(jax.jit, static_argnums=0)
def init_params(cfg: ModelConfig, rng: Array) -> Any:
  """Boxed (nn.Partitioned) parameters on one device; `nn.unbox` for plain arrays.

  Sharded training inits inside its own jit under the mesh (see train_step.Trainer).
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


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
  """Training FLOPs per token (forward + backward), as PaLM / nanoGPT count them.

  6 * M + 12 * L * N * H * seq_len, where M = parameters used in matmuls (q, k, v, o,
  gate, up, down per layer, plus the D x V unembedding whether tied or not; the input
  embedding lookup and norms excluded) and the second term is attention scores and
  values, without discounting the causal half.
  """
  D, N, K, H, F = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.d_ff
  per_layer = D * N * H + 2 * D * K * H + N * H * D + 3 * D * F
  matmul_params = cfg.n_layers * per_layer + D * cfg.vocab_size
  return float(6 * matmul_params + 12 * cfg.n_layers * N * H * seq_len)
