"""The one attention dispatch, and the boolean masks it takes.

Shapes: B batch, T query length, S key/value length, N query heads, K key/value heads
(N % K == 0: grouped-query attention), H head dim.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from llmjax.errors import ConfigError

_CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)


def resolve_impl(impl: str, dtype: jnp.dtype) -> str:
  """'auto' -> 'cudnn' on GPU with a 16-bit compute dtype, else 'xla'."""
  if impl != "auto":
    return impl
  # fp32 on GPU stays on XLA: cuDNN would silently round q/k/v to bf16.
  if jax.default_backend() == "gpu" and jnp.dtype(dtype) in _CUDNN_DTYPES:
    return "cudnn"
  return "xla"


def segment_mask(q_segment_ids_BT: jax.Array, kv_segment_ids_BS: jax.Array) -> jax.Array:
  """True where query and key are in the same segment: mask_B1TS (broadcasts over heads).

  Padding (segment 0) attends to padding, so with a causal mask every query row keeps at
  least its own position and no row is fully masked.
  """
  return (q_segment_ids_BT[:, None, :, None] == kv_segment_ids_BS[:, None, None, :])


def dot_product_attention(q_BTNH: jax.Array, k_BSKH: jax.Array, v_BSKH: jax.Array,
                          mask_BTS: jax.Array | None, *, causal: bool,
                          impl: str) -> jax.Array:
  """softmax(q k^T / sqrt(H) masked) v -> out_BTNH, in q's dtype.

  mask_BTS: boolean, True = attend; any shape broadcastable to [B, N, T, S] (e.g. B1TS).
  causal: lower-triangular mask aligned at position 0, so only valid when T == S.
  impl: 'auto' | 'xla' | 'cudnn' | 'splash'.
  """
  impl = resolve_impl(impl, q_BTNH.dtype)
  if impl == "splash":
    raise ConfigError("model.attention_impl='splash' (TPU) is not supported yet; "
                      "use 'auto' or 'xla'")
  if impl not in ("xla", "cudnn"):
    raise ConfigError(f"unknown attention impl {impl!r}")
  if causal and q_BTNH.shape[1] != k_BSKH.shape[1]:
    raise ValueError("causal=True needs T == S; pass an explicit mask for cached decoding")
  if mask_BTS is not None and mask_BTS.ndim == 3:
    mask_BTS = mask_BTS[:, None]
  out_dtype = q_BTNH.dtype
  if impl == "cudnn":
    # cuDNN flash attention: bf16/fp16 q/k/v only, head_dim <= 128 (multiple of 8), and
    # is_causal lets it skip the upper triangle; a boolean mask is lowered to a bias.
    if jnp.dtype(out_dtype) not in _CUDNN_DTYPES:
      q_BTNH, k_BSKH, v_BSKH = (a.astype(jnp.bfloat16) for a in (q_BTNH, k_BSKH, v_BSKH))
  # XLA fills masked logits with a large finite negative (not -inf): a fully masked row
  # gives a uniform average, never NaN, in outputs or gradients.
  out_BTNH = jax.nn.dot_product_attention(
      q_BTNH, k_BSKH, v_BSKH, mask=mask_BTS, is_causal=causal, implementation=impl)
  return out_BTNH.astype(out_dtype)
