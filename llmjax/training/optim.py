"""Optimizer: AdamW with global-norm clipping and warmup + cosine / warmup-stable-decay."""

from __future__ import annotations

import jax
import optax

from llmjax.config import OptimConfig


def schedule(cfg: OptimConfig, total_steps: int) -> optax.Schedule:
  warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
  floor = cfg.lr * cfg.min_lr_ratio
  if cfg.schedule == "constant":
    return optax.join_schedules(
        [optax.linear_schedule(0.0, cfg.lr, max(warmup, 1)), optax.constant_schedule(cfg.lr)],
        [warmup])
  if cfg.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=cfg.lr, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1), end_value=floor)
  # wsd: warmup, hold the peak, then decay linearly over the last decay_fraction of steps.
  decay = max(int(round(total_steps * cfg.decay_fraction)), 1)
  stable = max(total_steps - warmup - decay, 0)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, cfg.lr, max(warmup, 1)),
       optax.constant_schedule(cfg.lr),
       optax.linear_schedule(cfg.lr, floor, decay)],
      [warmup, warmup + stable])


def _decay_mask(params):
  # Decay matrices (projections, embeddings); never norm scales or other vectors.
  # Scanned layers carry a leading layer axis, so a stacked norm scale is 2-D: use names.
  def keep(path, x) -> bool:
    names = "/".join(str(getattr(p, "key", p)) for p in path).lower()
    return x.ndim >= 2 and "norm" not in names and "scale" not in names
  return jax.tree_util.tree_map_with_path(keep, params)


def make_optimizer(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
  return optax.chain(
      optax.clip_by_global_norm(cfg.clip_norm),
      optax.adamw(schedule(cfg, total_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
                  weight_decay=cfg.weight_decay, mask=_decay_mask),
  )
