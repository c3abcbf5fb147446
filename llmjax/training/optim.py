"""Optimizer: AdamW with global-norm clipping and warmup + cosine / warmup-stable-decay."""

from __future__ import annotations

import dataclasses

import jax
import optax
from optax.contrib import MuonDimensionNumbers

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


def _muon_dims(params):
  """Which axes of each parameter Muon orthogonalises over ([reduction] x [output] matrices,
  the leading layer axis batched); None = AdamW (embeddings, norms, routers, the head)."""
  def dims(path, x):
    names = [str(getattr(p, "key", p)) for p in path]
    if "layers" not in names or x.ndim < 3 or "norm" in "/".join(names) or names[-1] == "router":
      return None
    if names[-1] in ("wq", "wk", "wv"):  # [L, D, heads, H]
      return MuonDimensionNumbers(reduction_axis=1, output_axis=(2, 3))
    if names[-1] == "wo":  # [L, N, H, D]
      return MuonDimensionNumbers(reduction_axis=(1, 2), output_axis=3)
    return MuonDimensionNumbers(reduction_axis=x.ndim - 2, output_axis=x.ndim - 1)  # MLP
  return jax.tree_util.tree_map_with_path(dims, params)


def _base(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
  lr = schedule(cfg, total_steps)
  if cfg.optimizer == "adamw":
    return optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
                       weight_decay=cfg.weight_decay, mask=_decay_mask)
  muon_lr = schedule(dataclasses.replace(cfg, lr=cfg.muon_lr), total_steps)
  return optax.contrib.muon(
      muon_lr, weight_decay=cfg.weight_decay, adam_learning_rate=lr, adam_b1=cfg.b1,
      adam_b2=cfg.b2, eps=cfg.eps, adam_weight_decay=cfg.weight_decay,
      weight_decay_mask=_decay_mask, muon_weight_dimension_numbers=_muon_dims)


def make_optimizer(cfg: OptimConfig, total_steps: int, skip_nonfinite: bool = False
                   ) -> optax.GradientTransformation:
  """AdamW (or Muon + AdamW) with clipping. skip_nonfinite: a step whose gradient is not
  finite changes nothing (its update is zero); off by default, where the loop stops at the
  first such step instead (and the extra select would change the float rounding of every
  update)."""
  inner = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), _base(cfg, total_steps))
  if not skip_nonfinite:
    return inner
  # The loop decides when to stop; never apply a non-finite update, however many in a row.
  return optax.apply_if_finite(inner, max_consecutive_errors=2**31 - 1)
