"""KV-cached decoding matches the full forward (also for a batch of prompts of different
lengths, left-padded); streaming; sampling settings behave and are validated."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llmjax import model
from llmjax.config import ModelConfig, MoeConfig
from llmjax.errors import ConfigError
from llmjax.model import decode
from llmjax.model.decode import Sampling
from tests.helpers import numpy_params

# A large init_std makes logits decisive, so greedy ties cannot flip between code paths.
CFG = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                  head_dim=8, d_ff=64, dtype="float32", max_seq_len=32, init_std=0.3)


@pytest.fixture(scope="module")
def params():
  # Filled with numpy from the abstract shapes: skips compiling the init (slow on XLA:CPU).
  return numpy_params(CFG)


def _prompt(b: int, p: int, seed: int = 1) -> jax.Array:
  return jax.random.randint(jax.random.key(seed), (b, p), 0, CFG.vocab_size, jnp.int32)


def test_cached_greedy_equals_no_cache_greedy(params):
  prompt = _prompt(3, 5)
  cached = decode.generate(params, CFG, prompt, max_new_tokens=10, rng=jax.random.key(0))
  reference = decode.generate_no_cache(params, CFG, prompt, max_new_tokens=10)
  assert cached.shape == (3, 10) and cached.dtype == jnp.int32
  np.testing.assert_array_equal(cached, reference)
  assert len(np.unique(np.asarray(cached))) > 1  # not a degenerate constant sequence


def test_eos_rows_keep_emitting_eos(params):
  prompt = _prompt(3, 5)
  free = np.asarray(decode.generate_no_cache(params, CFG, prompt, max_new_tokens=10))
  eos = int(free[0, 3])  # a token the first row emits mid-way
  cached = np.asarray(decode.generate(params, CFG, prompt, max_new_tokens=10,
                                      rng=jax.random.key(0), eos_id=eos))
  np.testing.assert_array_equal(
      cached, decode.generate_no_cache(params, CFG, prompt, max_new_tokens=10, eos_id=eos))
  first = list(free[0]).index(eos)
  assert np.all(cached[0, first:] == eos)
  np.testing.assert_array_equal(cached[0, :first], free[0, :first])


def test_cached_logits_equal_full_forward(params):
  tokens = _prompt(2, 9)
  apply = jax.jit(lambda t, c: model.Transformer(CFG).apply({"params": params}, t, cache=c))
  full = jax.jit(lambda t: model.Transformer(CFG).apply({"params": params}, t)[0])(tokens)
  prefill, cache = apply(tokens[:, :5], model.init_cache(CFG, 2, 12))
  np.testing.assert_allclose(prefill, full[:, :5], rtol=1e-5, atol=1e-5)
  for t in range(5, 9):  # then one token at a time
    step, cache = apply(tokens[:, t:t + 1], cache)
    np.testing.assert_allclose(step[:, 0], full[:, t], rtol=1e-5, atol=1e-5)
  assert int(cache.length) == 9


def test_sample_logits_greedy_limits():
  logits = jax.random.normal(jax.random.key(0), (16, 50)) * 3
  argmax = jnp.argmax(logits, axis=-1)
  key = jax.random.key(1)
  np.testing.assert_array_equal(
      decode.sample_logits(logits, key, Sampling(temperature=0.0, top_k=0, top_p=1.0)), argmax)
  np.testing.assert_array_equal(
      decode.sample_logits(logits, key, Sampling(temperature=1.0, top_k=1, top_p=1.0)), argmax)
  np.testing.assert_array_equal(
      decode.sample_logits(logits, key, Sampling(temperature=1.0, top_k=0, top_p=1e-6)), argmax)


def test_sampling_is_seeded_and_respects_top_k():
  logits = jax.random.normal(jax.random.key(0), (256, 50))
  sample = lambda seed, **kw: np.asarray(decode.sample_logits(
      logits, jax.random.key(seed), Sampling(temperature=1.0, **kw)))
  a, b = sample(3, top_k=5, top_p=1.0), sample(3, top_k=5, top_p=1.0)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, sample(4, top_k=5, top_p=1.0))
  top5 = np.asarray(jax.lax.top_k(logits, 5)[1])
  assert all(a[i] in top5[i] for i in range(len(a)))
  assert len(np.unique(a)) > 5  # really samples, not argmax
  # Nucleus: every pick lies inside the smallest top set with mass >= top_p.
  probs = np.asarray(jax.nn.softmax(logits, axis=-1))
  picks = sample(5, top_k=0, top_p=0.5)
  for i, tok in enumerate(picks):
    order = np.argsort(-probs[i])
    n_keep = int(np.searchsorted(np.cumsum(probs[i][order]), 0.5) + 1)
    assert tok in order[:n_keep]


def test_generate_sampling_is_deterministic_per_seed(params):
  prompt = _prompt(2, 4)
  kw = dict(max_new_tokens=8, sampling=Sampling(temperature=1.0, top_k=10, top_p=0.9))
  a = decode.generate(params, CFG, prompt, rng=jax.random.key(7), **kw)
  b = decode.generate(params, CFG, prompt, rng=jax.random.key(7), **kw)
  np.testing.assert_array_equal(a, b)
  assert np.all((np.asarray(a) >= 0) & (np.asarray(a) < CFG.vocab_size))


def test_generate_length_limit(params):
  with pytest.raises(ConfigError, match="exceeds"):
    decode.generate(params, CFG, _prompt(1, 30), max_new_tokens=3, rng=jax.random.key(0))
  with pytest.raises(ConfigError, match="exceeds the context limit of 12"):
    decode.generate(params, CFG, _prompt(1, 5), max_new_tokens=10, rng=jax.random.key(0),
                    max_len=12)


# --- prompts of different lengths in one batch ---------------------------------------------

# Sliding-window layers (ring-buffer cache) and mixture-of-experts layers decode the same way.
LOCAL = dataclasses.replace(CFG, sliding_window=4)  # every layer local
PATTERN = dataclasses.replace(CFG, sliding_window=4, global_every=2)  # local, global
MOE = dataclasses.replace(CFG, moe=MoeConfig(experts=4, top_k=2, d_ff=16))
LENGTHS = (7, 1, 11)  # one prompt is BOS only; the padding exceeds the window


def _ragged(seed: int = 2) -> list[list[int]]:
  rng = np.random.default_rng(seed)
  return [rng.integers(0, CFG.vocab_size, n).tolist() for n in LENGTHS]


@pytest.mark.parametrize("cfg", [
    CFG, PATTERN,  # PATTERN: a ring-buffer (local) layer beside a full-cache (global) one
    pytest.param(LOCAL, marks=pytest.mark.slow),  # 15-30 s each on 2 shared cores
    pytest.param(MOE, marks=pytest.mark.slow)], ids=["dense", "pattern", "local", "moe"])
def test_ragged_batch_rows_equal_each_prompt_alone(cfg, params):
  p = params if cfg is CFG else numpy_params(cfg)
  prompts = _ragged()
  n = 8
  batch = decode.generate(p, cfg, prompts, max_new_tokens=n, rng=jax.random.key(0))
  assert isinstance(batch, np.ndarray) and batch.shape == (len(prompts), n)
  # Extra left padding on every row (P rounded up to a multiple of 8) changes nothing.
  padded = decode.generate(p, cfg, prompts, max_new_tokens=n, rng=jax.random.key(0),
                           pad_multiple=8)
  np.testing.assert_array_equal(padded, batch)
  for row, prompt in zip(batch, prompts):
    alone = decode.generate(p, cfg, [prompt], max_new_tokens=n, rng=jax.random.key(0))
    reference = decode.generate_no_cache(p, cfg, np.asarray([prompt]), max_new_tokens=n)
    np.testing.assert_array_equal(row, alone[0], err_msg=str(len(prompt)))
    np.testing.assert_array_equal(row, np.asarray(reference)[0], err_msg=str(len(prompt)))
  assert len(np.unique(batch)) > 1


def test_left_pad():
  prompt_BP, start_B = decode.left_pad([[5, 6, 7], [8]], multiple=4)
  np.testing.assert_array_equal(prompt_BP, [[0, 5, 6, 7], [0, 0, 0, 8]])
  np.testing.assert_array_equal(start_B, [1, 3])
  assert decode.left_pad([[5, 6, 7]], multiple=4, limit=3)[0].shape == (1, 3)
  with pytest.raises(ConfigError, match="at least one token"):
    decode.left_pad([[5], []])


# --- streaming -----------------------------------------------------------------------------

def test_stream_yields_the_tokens_of_generate(params):
  prompt = _ragged()[0]
  for sampling in (decode.GREEDY, Sampling(temperature=1.0, top_k=10, top_p=0.9)):
    want = decode.generate(params, CFG, [prompt], max_new_tokens=10, rng=jax.random.key(4),
                           sampling=sampling)[0].tolist()
    got = list(decode.stream(params, CFG, prompt, max_new_tokens=10, rng=jax.random.key(4),
                             sampling=sampling))
    assert got == want, sampling
  # A stop id ends the stream after yielding it.
  stop = want[3]
  first = want.index(stop)
  assert list(decode.stream(params, CFG, prompt, max_new_tokens=10, rng=jax.random.key(4),
                            sampling=sampling, stop_ids=(stop,))) == want[:first + 1]
  with pytest.raises(ConfigError, match="exceeds"):
    next(decode.stream(params, CFG, list(range(30)), max_new_tokens=5, rng=jax.random.key(0)))


# --- sampling settings ---------------------------------------------------------------------

@pytest.mark.parametrize("kw,named", [
    (dict(temperature=-0.1), "temperature"), (dict(top_p=0.0), "top_p"),
    (dict(top_p=-0.5), "top_p"), (dict(top_p=1.01), "top_p"), (dict(top_k=-1), "top_k")])
def test_sampling_rejects_bad_settings(kw, named):
  with pytest.raises(ConfigError, match=named):
    Sampling(**kw)


def test_sampling_accepts_the_edges():
  assert Sampling() == decode.GREEDY and decode.GREEDY.temperature == 0.0
  Sampling(temperature=0.0, top_k=0, top_p=1.0)
  Sampling(temperature=2.0, top_k=1, top_p=1e-9)


def test_tiny_top_p_keeps_exactly_the_top_token():
  # Even at a high temperature (a nearly flat distribution) every seed picks the argmax.
  # (Logits from another key than the samples': key(k)'s normals and Gumbel noise come
  # from the same bits, and would keep the argmax.)
  logits = jax.random.normal(jax.random.key(100), (64, 50))
  argmax = np.asarray(jnp.argmax(logits, axis=-1))
  flat = Sampling(temperature=100.0, top_p=1e-3)
  for seed in range(5):
    np.testing.assert_array_equal(
        decode.sample_logits(logits, jax.random.key(seed), flat), argmax)
  # Without the nucleus the same temperature really samples.
  free = np.asarray(decode.sample_logits(logits, jax.random.key(0), Sampling(temperature=100.0)))
  assert (free != argmax).mean() > 0.5
