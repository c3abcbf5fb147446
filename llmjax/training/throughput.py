"""Train-step throughput: the real train step (same code as training) timed on synthetic tokens."""

from __future__ import annotations

import statistics
import time

import jax
import numpy as np

from llmjax import model
from llmjax.config import Config
from llmjax.training import metrics, sharding
from llmjax.training.step import Trainer


def synthetic_batch(cfg: Config, seed: int = 0) -> dict[str, np.ndarray]:
  """One document per row (segment 1, positions 0..T-1) of uniformly random tokens."""
  b, t = cfg.data.batch_size, cfg.data.seq_len
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, cfg.model.vocab_size, size=(b, t + 1), dtype=np.int32)
  return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:],
          "segment_ids": np.ones((b, t), np.int32),
          "positions": np.broadcast_to(np.arange(t, dtype=np.int32), (b, t)).copy()}


def bench_train_step(cfg: Config, steps: int = 20, warmup: int = 3) -> dict:
  mesh = sharding.make_mesh(cfg.mesh)
  trainer = Trainer(cfg, mesh)
  state = trainer.init_state(jax.random.key(cfg.seed))
  batch = trainer.put_batch(synthetic_batch(cfg))
  rng = jax.random.key(1)
  for _ in range(warmup):
    state, m = trainer.train_step(state, batch, rng)
  jax.block_until_ready(m)
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    state, m = trainer.train_step(state, batch, rng)
    jax.block_until_ready(m)
    times.append(time.perf_counter() - t0)
  step_s = statistics.median(times)
  tokens_per_sec = cfg.data.batch_size * cfg.data.seq_len / step_s
  fpt = model.flops_per_token(cfg.model, cfg.data.seq_len)
  counts = model.count_params(state.params)
  return {
      "config": cfg.name, "tokens_per_sec": round(tokens_per_sec, 1),
      "mfu": metrics.mfu(tokens_per_sec, fpt, jax.device_count()),
      "step_ms": round(1e3 * step_s, 3), "step_ms_min": round(1e3 * min(times), 3),
      "params": counts["total"], "active_params": model.active_params(cfg.model, state.params),
      "flops_per_token": fpt,
      "device": jax.devices()[0].device_kind, "num_devices": jax.device_count(),
      "batch_size": cfg.data.batch_size, "seq_len": cfg.data.seq_len,
      "dtype": cfg.model.dtype, "remat": cfg.model.remat,
      "attention": cfg.model.attention_impl, "steps": steps, "loss": float(m["loss"]),
  }
