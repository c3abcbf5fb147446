"""The one attention dispatch, and the boolean masks it takes.

Shapes: B batch, T query length, S key/value length, N query heads, K key/value heads
(N % K == 0: grouped-query attention), H head dim.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from llmjax.errors import ConfigError

_CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)


def check_backend(impl: str) -> None:
  """ConfigError when model.attention_impl='cudnn' cannot run on this machine."""
  if impl == "cudnn" and jax.default_backend() != "gpu":
    raise ConfigError(f"model.attention_impl='cudnn' needs a GPU (this is "
                      f"{jax.default_backend()}); use 'auto' or 'xla'")


def resolve_impl(impl: str, dtype: jnp.dtype, *, causal: bool, softcap: float = 0.0) -> str:
  """Which kernel runs: cuDNN flash attention for causal attention (training, scoring,
  prefill) on a GPU with a 16-bit dtype and no soft-cap, when impl is 'auto' or 'cudnn';
  XLA otherwise. Decoding steps (a few queries against the cache, with an explicit mask)
  always run on XLA. Config validation and check_backend refuse an explicit 'cudnn' where
  it could never run, so 'cudnn' here falls back only for decoding steps."""
  if impl == "xla" or not causal or softcap > 0:
    return "xla"
  if impl == "cudnn":
    return "cudnn"
  # auto. fp32 stays on XLA: cuDNN would round q/k/v to bf16.
  if jax.default_backend() == "gpu" and jnp.dtype(dtype) in _CUDNN_DTYPES:
    return "cudnn"
  return "xla"


def segment_mask(q_segment_ids_BT: jax.Array, kv_segment_ids_BS: jax.Array) -> jax.Array:
  """True where query and key are in the same segment: mask_B1TS (broadcasts over heads).

  Padding (segment 0) attends to padding, so with a causal mask every query row keeps at
  least its own position and no row is fully masked.
  """
  return (q_segment_ids_BT[:, None, :, None] == kv_segment_ids_BS[:, None, None, :])


def window_mask(q_pos_T: jax.Array, kv_pos_S: jax.Array, window: int) -> jax.Array:
  """mask_TS: causal, and (window > 0) only the last `window` positions, itself included."""
  diff_TS = q_pos_T[:, None] - kv_pos_S[None, :]
  mask_TS = diff_TS >= 0
  if window > 0:
    mask_TS &= diff_TS < window
  return mask_TS


def _softcapped_attention(q_BTNH, k_BSKH, v_BSKH, mask_BTS, causal: bool, window: int,
                          softcap: float) -> jax.Array:
  """Plain XLA attention with scores -> softcap * tanh(scores / softcap) (Gemma 2);
  jax.nn.dot_product_attention has no soft-cap, and neither has the cuDNN path here."""
  B, T, N, H = q_BTNH.shape
  K, S = k_BSKH.shape[2], k_BSKH.shape[1]
  q_BTKGH = q_BTNH.reshape(B, T, K, N // K, H)
  s_BKGTS = jnp.einsum("btkgh,bskh->bkgts", q_BTKGH, k_BSKH,
                       preferred_element_type=jnp.float32) / jnp.sqrt(jnp.float32(H))
  s_BKGTS = softcap * jnp.tanh(s_BKGTS / softcap)
  keep = jnp.ones((1, 1, 1, T, S), bool)
  if causal:
    keep &= window_mask(jnp.arange(T), jnp.arange(S), window)
  if mask_BTS is not None:  # B1TS (or BNTS) -> B K G T S
    m = jnp.broadcast_to(mask_BTS, (B, mask_BTS.shape[1], T, S))
    keep &= m.reshape(B, 1, 1, T, S) if m.shape[1] == 1 else m.reshape(B, K, N // K, T, S)
  # Same large finite negative as jax's XLA path: fully masked rows stay finite.
  s_BKGTS = jnp.where(keep, s_BKGTS, -0.7 * jnp.finfo(jnp.float32).max)
  p_BKGTS = jax.nn.softmax(s_BKGTS, axis=-1).astype(v_BSKH.dtype)
  return jnp.einsum("bkgts,bskh->btkgh", p_BKGTS, v_BSKH).reshape(B, T, N, H)


def dot_product_attention(q_BTNH: jax.Array, k_BSKH: jax.Array, v_BSKH: jax.Array,
                          mask_BTS: jax.Array | None, *, causal: bool,
                          impl: str, window: int = 0, softcap: float = 0.0) -> jax.Array:
  """softmax(q k^T / sqrt(H) masked) v -> out_BTNH, in q's dtype.

  mask_BTS: boolean, True = attend; any shape broadcastable to [B, N, T, S] (e.g. B1TS).
  causal: lower-triangular mask aligned at position 0, so only valid when T == S.
  window: with causal, a query sees only the last `window` keys (itself included), via
    local_window_size (static, so cuDNN can skip the blocks outside it); 0 = no window.
  softcap: > 0 soft-caps the scores (XLA only).
  impl: the configured model.attention_impl ('auto' | 'xla' | 'cudnn'); resolve_impl picks
    the kernel.
  """
  impl = resolve_impl(impl, q_BTNH.dtype, causal=causal, softcap=softcap)
  if causal and q_BTNH.shape[1] != k_BSKH.shape[1]:
    raise ValueError("causal=True needs T == S; pass an explicit mask for cached decoding")
  if mask_BTS is not None and mask_BTS.ndim == 3:
    mask_BTS = mask_BTS[:, None]
  out_dtype = q_BTNH.dtype
  if window and not causal:
    raise ValueError("window needs causal=True; build the mask for cached decoding")
  if softcap > 0:  # always the XLA path (cuDNN here has no soft-cap)
    return _softcapped_attention(q_BTNH, k_BSKH, v_BSKH, mask_BTS, causal, window,
                                 softcap).astype(out_dtype)
  # cuDNN flash attention: bf16/fp16 q/k/v only, head_dim <= 128 (multiple of 8), and
  # is_causal lets it skip the upper triangle; a boolean mask is lowered to a bias.
  # XLA fills masked logits with a large finite negative (not -inf): a fully masked row
  # gives a uniform average, never NaN, in outputs or gradients.
  out_BTNH = jax.nn.dot_product_attention(
      q_BTNH, k_BSKH, v_BSKH, mask=mask_BTS, is_causal=causal, implementation=impl,
      local_window_size=(window - 1, 0) if window else None)
  return out_BTNH.astype(out_dtype)
