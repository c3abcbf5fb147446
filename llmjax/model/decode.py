"""Sampling and KV-cached generation: the one decoder (greedy = temperature 0).

Shapes: B batch, P prompt length (after left padding), N new tokens, V vocab.

A batch of prompts of different lengths is left-padded to one length: one prefill call
fills the KV cache (attention as in training, through the configured implementation, with
the padding masked out), then one cached call per new token. `generate` runs the token loop
on the device (jax.lax.fori_loop); `stream` yields each token as it is produced (chat).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterator, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from llmjax.config import ModelConfig
from llmjax.errors import ConfigError
from llmjax.model.transformer import KVCache, Transformer, init_cache


@dataclasses.dataclass(frozen=True)
class Sampling:
  """temperature 0 = greedy; top_k 0 = off; top_p 1.0 = off (nucleus: the smallest set of
  top tokens whose probability mass reaches top_p; the top token always survives)."""
  temperature: float = 0.0
  top_k: int = 0
  top_p: float = 1.0

  def __post_init__(self):
    if not self.temperature >= 0.0:
      raise ConfigError(f"temperature={self.temperature} must be >= 0 (0 = greedy)")
    if not 0.0 < self.top_p <= 1.0:
      raise ConfigError(f"top_p={self.top_p} must be in (0, 1] (1 = off)")
    if self.top_k < 0:
      raise ConfigError(f"top_k={self.top_k} must be >= 0 (0 = off)")


GREEDY = Sampling()


def sample_logits(logits_BV: jax.Array, rng: jax.Array, sampling: Sampling) -> jax.Array:
  """Next tokens_B under `sampling` (its values are static: one compilation per setting)."""
  logits_BV = logits_BV.astype(jnp.float32)
  if sampling.temperature == 0.0:
    return jnp.argmax(logits_BV, axis=-1).astype(jnp.int32)
  logits_BV = logits_BV / sampling.temperature
  if 0 < sampling.top_k < logits_BV.shape[-1]:
    kth_B1 = jax.lax.top_k(logits_BV, sampling.top_k)[0][:, -1:]
    logits_BV = jnp.where(logits_BV < kth_B1, -jnp.inf, logits_BV)
  if sampling.top_p < 1.0:
    sorted_BV = jnp.sort(logits_BV, axis=-1)[:, ::-1]
    probs_BV = jax.nn.softmax(sorted_BV, axis=-1)
    # Keep a token while the mass before it is < top_p (> 0): the top token always survives.
    keep_BV = (jnp.cumsum(probs_BV, axis=-1) - probs_BV) < sampling.top_p
    cutoff_B1 = jnp.min(jnp.where(keep_BV, sorted_BV, jnp.inf), axis=-1, keepdims=True)
    logits_BV = jnp.where(logits_BV < cutoff_B1, -jnp.inf, logits_BV)
  return jax.random.categorical(rng, logits_BV, axis=-1).astype(jnp.int32)


def check_length(cfg: ModelConfig, prompt_len: int, max_new_tokens: int,
                 max_len: int | None = None) -> int:
  """P + N, or ConfigError when it does not fit the model's context."""
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


def left_pad(prompts: Sequence[Sequence[int]], multiple: int = 1, limit: int | None = None,
             pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(prompt_BP, start_B): prompts right-aligned in one int32 array, P rounded up to a
  multiple (fewer shapes to compile) but not past `limit`; start_B = where each row's real
  tokens begin."""
  if not prompts or any(len(p) == 0 for p in prompts):
    raise ConfigError("every prompt needs at least one token (BOS)")
  longest = max(len(p) for p in prompts)
  P = -(-longest // multiple) * multiple
  if limit is not None:
    P = max(longest, min(P, limit))
  out = np.full((len(prompts), P), pad_id, np.int32)
  start = np.zeros(len(prompts), np.int32)
  for b, p in enumerate(prompts):
    out[b, P - len(p):] = p
    start[b] = P - len(p)
  return out, start


def _stop_after_eos(tok_B: jax.Array, done_B: jax.Array, eos: jax.Array
                    ) -> tuple[jax.Array, jax.Array]:
  tok_B = jnp.where(done_B, eos, tok_B)
  return tok_B, done_B | (tok_B == eos)


def _prefill(params: Any, prompt_BP: jax.Array, start_B: jax.Array, cfg: ModelConfig,
             max_len: int) -> tuple[jax.Array, KVCache]:
  """Last-position logits_BV of the prompts and the filled cache."""
  B, P = prompt_BP.shape
  segment_ids_BP = (jnp.arange(P)[None, :] >= start_B[:, None]).astype(jnp.int32)
  cache = init_cache(cfg, B, max_len, start_B)
  logits_BPV, cache = Transformer(cfg).apply({"params": params}, prompt_BP, cache=cache,
                                             prefill=True, segment_ids_BT=segment_ids_BP)
  return logits_BPV[:, -1], cache


def _step(params: Any, tok_B: jax.Array, cache: KVCache, cfg: ModelConfig
          ) -> tuple[jax.Array, KVCache]:
  logits_B1V, cache = Transformer(cfg).apply({"params": params}, tok_B[:, None], cache=cache)
  return logits_B1V[:, 0], cache


def generate(params: Any, cfg: ModelConfig, prompts: Sequence[Sequence[int]] | np.ndarray, *,
             max_new_tokens: int, rng: jax.Array, sampling: Sampling = GREEDY,
             eos_id: int | None = None, max_len: int | None = None,
             pad_multiple: int = 1) -> np.ndarray:
  """The max_new_tokens tokens_BN that follow each prompt (prompts not included).

  prompts: token-id lists of any lengths (left-padded here) or an int array [B, P]. Once a
  row emits eos_id it keeps emitting eos_id. P + N may not exceed max_len (default
  cfg.max_seq_len); RoPE runs past the trained length, so a caller may pass a larger max_len
  deliberately, at a quality cost (not with learned positions).
  """
  limit = (cfg.max_seq_len if max_len is None else max_len) - max_new_tokens
  if hasattr(prompts, "ndim"):  # an int array [B, P], numpy or jax
    prompts = np.asarray(prompts).tolist()
  prompt_BP, start_B = left_pad(prompts, pad_multiple, limit)
  total = check_length(cfg, prompt_BP.shape[1], max_new_tokens, max_len)
  eos = jnp.asarray(-1 if eos_id is None else eos_id, jnp.int32)  # -1: never emitted
  out = _generate(nn.unbox(params), jnp.asarray(prompt_BP), jnp.asarray(start_B), rng, eos,
                  cfg=cfg, max_new_tokens=max_new_tokens, max_len=total, sampling=sampling)
  return np.asarray(out)


@functools.partial(jax.jit, static_argnames=("cfg", "max_new_tokens", "max_len", "sampling"))
def _generate(params: Any, prompt_BP: jax.Array, start_B: jax.Array, rng: jax.Array,
              eos: jax.Array, *, cfg: ModelConfig, max_new_tokens: int, max_len: int,
              sampling: Sampling) -> jax.Array:
  B = prompt_BP.shape[0]
  logits_BV, cache = _prefill(params, prompt_BP, start_B, cfg, max_len)
  tok_B = sample_logits(logits_BV, jax.random.fold_in(rng, 0), sampling)
  tok_B, done_B = _stop_after_eos(tok_B, jnp.zeros((B,), bool), eos)
  out_BN = jnp.zeros((B, max_new_tokens), jnp.int32).at[:, 0].set(tok_B)

  def body(i, carry):
    tok_B, done_B, out_BN, cache = carry
    logits_BV, cache = _step(params, tok_B, cache, cfg)
    tok_B = sample_logits(logits_BV, jax.random.fold_in(rng, i), sampling)
    tok_B, done_B = _stop_after_eos(tok_B, done_B, eos)
    return tok_B, done_B, out_BN.at[:, i].set(tok_B), cache

  _, _, out_BN, _ = jax.lax.fori_loop(1, max_new_tokens, body,
                                      (tok_B, done_B, out_BN, cache))
  return out_BN


_prefill_jit = jax.jit(_prefill, static_argnames=("cfg", "max_len"))
_step_jit = jax.jit(_step, static_argnames=("cfg",), donate_argnums=2)
_sample_jit = jax.jit(sample_logits, static_argnames=("sampling",))


def stream(params: Any, cfg: ModelConfig, prompt: Sequence[int], *, max_new_tokens: int,
           rng: jax.Array, sampling: Sampling = GREEDY, stop_ids: Sequence[int] = (),
           max_len: int | None = None) -> Iterator[int]:
  """The tokens that follow one prompt, yielded as they are produced (same tokens as
  `generate` for one row); stops after a token in stop_ids (which is yielded)."""
  prompt_BP, start_B = left_pad([prompt])
  total = check_length(cfg, prompt_BP.shape[1], max_new_tokens, max_len)
  params = nn.unbox(params)
  logits_BV, cache = _prefill_jit(params, jnp.asarray(prompt_BP), jnp.asarray(start_B),
                                  cfg=cfg, max_len=total)
  for i in range(max_new_tokens):
    tok_B = _sample_jit(logits_BV, jax.random.fold_in(rng, i), sampling)
    tok = int(tok_B[0])
    yield tok
    if tok in stop_ids or i + 1 == max_new_tokens:
      return
    logits_BV, cache = _step_jit(params, tok_B, cache, cfg=cfg)


def continue_text(params: Any, cfg: ModelConfig, tokenizer, prompts: Sequence[str], *,
                  max_new_tokens: int, sampling: Sampling = GREEDY, seed: int = 0,
                  stop: str | None = None, truncate: bool = False,
                  pad_multiple: int = 16) -> list[str]:
  """BOS + each prompt, decoded together (KV cache), cut at EOS (and at `stop`), as text.

  A prompt too long for the context is a ConfigError, or with truncate=True keeps its last
  tokens (benchmarks that ask many questions).
  """
  keep = cfg.max_seq_len - max_new_tokens
  ids = [[tokenizer.bos_id] + tokenizer.encode(p) for p in prompts]
  if truncate and keep >= 1:
    ids = [row[-keep:] for row in ids]
  for row in ids:
    check_length(cfg, len(row), max_new_tokens)
  out = generate(params, cfg, ids, max_new_tokens=max_new_tokens, rng=jax.random.key(seed),
                 sampling=sampling, eos_id=tokenizer.eos_id, pad_multiple=pad_multiple)
  texts = []
  for row in out.tolist():
    if tokenizer.eos_id in row:
      row = row[:row.index(tokenizer.eos_id)]
    text = tokenizer.decode(row)
    texts.append(text.split(stop)[0] if stop else text)
  return texts


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
