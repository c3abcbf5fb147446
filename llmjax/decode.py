"""Sampling and KV-cached generation. Shapes: B batch, P prompt length, N new tokens,
V vocab."""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from llmjax.config import ModelConfig
from llmjax.errors import ConfigError
from llmjax.model import Transformer, init_cache


def sample_logits(logits_BV: jax.Array, rng: jax.Array, *, temperature: float, top_k: int,
                  top_p: float) -> jax.Array:
  """Next tokens_B. Settings are Python values: temperature 0 = greedy, top_k 0 = off,
  top_p 1.0 = off (nucleus: smallest set of top tokens whose mass reaches top_p)."""
  logits_BV = logits_BV.astype(jnp.float32)
  if temperature == 0.0:
    return jnp.argmax(logits_BV, axis=-1).astype(jnp.int32)
  logits_BV = logits_BV / temperature
  if 0 < top_k < logits_BV.shape[-1]:
    kth_B1 = jax.lax.top_k(logits_BV, top_k)[0][:, -1:]
    logits_BV = jnp.where(logits_BV < kth_B1, -jnp.inf, logits_BV)
  if top_p < 1.0:
    sorted_BV = jnp.sort(logits_BV, axis=-1)[:, ::-1]
    probs_BV = jax.nn.softmax(sorted_BV, axis=-1)
    # Keep a token while the mass before it is < top_p: the top token always survives.
    keep_BV = (jnp.cumsum(probs_BV, axis=-1) - probs_BV) < top_p
    cutoff_B1 = jnp.min(jnp.where(keep_BV, sorted_BV, jnp.inf), axis=-1, keepdims=True)
    logits_BV = jnp.where(logits_BV < cutoff_B1, -jnp.inf, logits_BV)
  return jax.random.categorical(rng, logits_BV, axis=-1).astype(jnp.int32)


def _check_length(cfg: ModelConfig, prompt_len: int, max_new_tokens: int,
                  max_len: int | None) -> int:
  limit = cfg.max_seq_len if max_len is None else max_len
  if max_new_tokens < 1:
    raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
  if prompt_len + max_new_tokens > limit:
    raise ConfigError(f"prompt ({prompt_len} tokens) + max_new_tokens={max_new_tokens} "
                      f"exceeds the context limit of {limit} tokens")
  if cfg.position_embedding == "learned" and limit > cfg.max_seq_len:
    raise ConfigError(f"max_len={limit} exceeds model.max_seq_len={cfg.max_seq_len}: "
                      "learned absolute positions have no entries past it")
  return prompt_len + max_new_tokens


def generate(params: Any, cfg: ModelConfig, prompt_BP: jax.Array, *, max_new_tokens: int,
             rng: jax.Array, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
             eos_id: int | None = None, max_len: int | None = None) -> jax.Array:
  """The max_new_tokens tokens_BN that follow the prompt (prompt not included).

  One prefill call fills the KV cache with the prompt, then one cached call per token.
  Once a row emits eos_id it keeps emitting eos_id. P + N may not exceed max_len
  (default cfg.max_seq_len); RoPE runs past the trained length, so a caller may pass a
  larger max_len deliberately, at a quality cost (not with learned positions). Local
  (sliding-window) layers keep a ring buffer of `window` keys/values, not P + N.
  """
  prompt_BP = jnp.asarray(prompt_BP, jnp.int32)
  _check_length(cfg, prompt_BP.shape[1], max_new_tokens, max_len)
  eos = jnp.asarray(-1 if eos_id is None else eos_id, jnp.int32)  # -1: never emitted
  return _generate(nn.unbox(params), prompt_BP, rng, eos, cfg=cfg,
                   max_new_tokens=max_new_tokens, temperature=float(temperature),
                   top_k=int(top_k), top_p=float(top_p))


def _stop_after_eos(tok_B: jax.Array, done_B: jax.Array, eos: jax.Array
                    ) -> tuple[jax.Array, jax.Array]:
  tok_B = jnp.where(done_B, eos, tok_B)
  return tok_B, done_B | (tok_B == eos)


@functools.partial(jax.jit, static_argnames=("cfg", "max_new_tokens", "temperature",
                                             "top_k", "top_p"))
def _generate(params: Any, prompt_BP: jax.Array, rng: jax.Array, eos: jax.Array, *,
              cfg: ModelConfig, max_new_tokens: int, temperature: float, top_k: int,
              top_p: float) -> jax.Array:
  model = Transformer(cfg)
  B, P = prompt_BP.shape
  sample = functools.partial(sample_logits, temperature=temperature, top_k=top_k,
                             top_p=top_p)

  cache = init_cache(cfg, B, P + max_new_tokens)
  logits_BPV, cache = model.apply({"params": params}, prompt_BP, cache=cache)
  tok_B = sample(logits_BPV[:, -1], jax.random.fold_in(rng, 0))
  tok_B, done_B = _stop_after_eos(tok_B, jnp.zeros((B,), bool), eos)
  out_BN = jnp.zeros((B, max_new_tokens), jnp.int32).at[:, 0].set(tok_B)

  def step(i, carry):
    tok_B, done_B, out_BN, cache = carry
    logits_B1V, cache = model.apply({"params": params}, tok_B[:, None], cache=cache)
    tok_B = sample(logits_B1V[:, 0], jax.random.fold_in(rng, i))
    tok_B, done_B = _stop_after_eos(tok_B, done_B, eos)
    return tok_B, done_B, out_BN.at[:, i].set(tok_B), cache

  _, _, out_BN, _ = jax.lax.fori_loop(1, max_new_tokens, step,
                                      (tok_B, done_B, out_BN, cache))
  return out_BN


def generate_no_cache(params: Any, cfg: ModelConfig, prompt_BP: jax.Array, *,
                      max_new_tokens: int, eos_id: int | None = None) -> jax.Array:
  """Greedy reference for tests: a full forward (no cache) over the sequence each step.

  The sequence lives in a fixed [B, P + N] buffer so one compilation serves every step;
  causal masking keeps the not-yet-written tail invisible to the position read.
  """
  prompt_BP = jnp.asarray(prompt_BP, jnp.int32)
  B, P = prompt_BP.shape
  seq_BT = jnp.zeros((B, P + max_new_tokens), jnp.int32).at[:, :P].set(prompt_BP)
  eos = jnp.asarray(-1 if eos_id is None else eos_id, jnp.int32)
  done_B = jnp.zeros((B,), bool)
  for t in range(P, P + max_new_tokens):
    logits_BTV = _forward(nn.unbox(params), seq_BT, cfg=cfg)
    tok_B = jnp.argmax(logits_BTV[:, t - 1], axis=-1).astype(jnp.int32)
    tok_B, done_B = _stop_after_eos(tok_B, done_B, eos)
    seq_BT = seq_BT.at[:, t].set(tok_B)
  return seq_BT[:, P:]


@functools.partial(jax.jit, static_argnames=("cfg",))
def _forward(params: Any, tokens_BT: jax.Array, *, cfg: ModelConfig) -> jax.Array:
  return Transformer(cfg).apply({"params": params}, tokens_BT)[0]
