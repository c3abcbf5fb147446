"""LoRA: low-rank adapters as a pytree of their own, merged into frozen base weights.

For a weight W [*batch, *in, *out] (batch = the scanned layer axis, and the expert axis of a
MoE layer; in / out = the axes the projection contracts / produces) an adapter is
  A [*batch, *in, r]  ~ N(0, 1 / fan_in),   B [*batch, r, *out] = 0,
and the model computes with  W' = W + (alpha / r) * A @ B  (per layer). B starts at zero, so
a fresh adapter leaves the model exactly as it was; training changes only A and B.

The adapters live beside the parameters, never inside them: {"layers": {"attn": {"wq":
{"a": A, "b": B}}}} mirrors the paths of the weights it adapts. `merge` builds W' inside the
jitted forward pass (the linen model is not changed at all), `Adapted` is a model whose
apply() takes the adapters and closes over the frozen base, and the same `merge` folds a
trained adapter into the weights for good (llmjax.sft.adapters.merge_workdir).

Merging per step costs one [in x r] @ [r x out] product per adapted matrix; computing
x @ A @ B on the activations instead costs B*T*(in + out)*r. With B*T tokens per step in the
thousands and matrices of a few hundred rows, merging is the cheaper of the two here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from llmjax.errors import ConfigError

# The projections LoRA can adapt: leaf name -> (input axes, output axes), trailing.
IN_OUT = {"wq": (1, 2), "wk": (1, 2), "wv": (1, 2), "wo": (2, 1),
          "gate": (1, 1), "up": (1, 1), "down": (1, 1)}


@dataclasses.dataclass(frozen=True)
class LoraSpec:
  rank: int
  alpha: float
  targets: str  # regex searched in "/"-joined parameter paths, e.g. "layers/attn/wq"

  @property
  def scale(self) -> float:
    return self.alpha / self.rank


def path_name(path: tuple) -> str:
  return "/".join(str(getattr(k, "key", k)) for k in path)


def target_paths(params: Any, spec: LoraSpec) -> list[tuple[str, ...]]:
  """Paths of the projection matrices the spec adapts; ConfigError when none match."""
  flat = traverse_util.flatten_dict(nn.unbox(params))
  candidates = [p for p in flat if p[-1] in IN_OUT]
  chosen = [p for p in candidates if re.search(spec.targets, "/".join(p))]
  if not chosen:
    names = sorted({"/".join(p) for p in candidates})
    raise ConfigError(f"finetune.lora_targets={spec.targets!r} matches none of the "
                      f"projection matrices LoRA can adapt: {', '.join(names)}")
  return sorted(chosen)


def _axes(name: str, ndim: int) -> tuple[int, int, int]:
  """(batch axes, input axes, output axes) of a weight."""
  n_in, n_out = IN_OUT[name]
  return ndim - n_in - n_out, n_in, n_out


def adapter_shapes(shape: tuple[int, ...], name: str, rank: int
                   ) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(A's shape, B's shape) for a weight of `shape`."""
  nb, n_in, _ = _axes(name, len(shape))
  batch, ins, outs = shape[:nb], shape[nb:nb + n_in], shape[nb + n_in:]
  return (*batch, *ins, rank), (*batch, rank, *outs)


def init(params: Any, spec: LoraSpec, rng: jax.Array, dtype=jnp.float32) -> dict:
  """Fresh adapters for `params` (arrays or ShapeDtypeStructs): A random, B zero."""
  flat = traverse_util.flatten_dict(nn.unbox(params))
  out = {}
  for i, path in enumerate(target_paths(params, spec)):
    a_shape, b_shape = adapter_shapes(tuple(flat[path].shape), path[-1], spec.rank)
    fan_in = math.prod(a_shape[len(a_shape) - 1 - IN_OUT[path[-1]][0]:-1])
    a = jax.random.normal(jax.random.fold_in(rng, i), a_shape, dtype) / math.sqrt(fan_in)
    out[(*path, "a")] = a
    out[(*path, "b")] = jnp.zeros(b_shape, dtype)
  return traverse_util.unflatten_dict(out)


def delta(a: jax.Array, b: jax.Array, name: str) -> jax.Array:
  """A @ B per batch entry: the update [*batch, *in, *out] (not yet scaled)."""
  n_in, n_out = IN_OUT[name]
  nb = a.ndim - n_in - 1
  batch, ins, outs = a.shape[:nb], a.shape[nb:-1], b.shape[nb + 1:]
  a_BIR = a.reshape(*batch, math.prod(ins), a.shape[-1])
  b_BRO = b.reshape(*batch, b.shape[nb], math.prod(outs))
  return jnp.matmul(a_BIR, b_BRO).reshape(*batch, *ins, *outs)


def adapted_paths(adapters: dict) -> list[tuple[str, ...]]:
  return sorted({p[:-1] for p in traverse_util.flatten_dict(adapters)})


def merge(params: Any, adapters: dict, scale: float) -> Any:
  """The parameters with every adapter folded in: W + scale * A @ B (in W's dtype)."""
  flat = traverse_util.flatten_dict(params)
  for path in adapted_paths(adapters):
    node = adapters
    for k in path:
      node = node[k]
    w = flat[path]
    flat[path] = (w + scale * delta(node["a"], node["b"], path[-1])).astype(w.dtype)
  return traverse_util.unflatten_dict(flat)


def count(adapters: dict) -> int:
  return sum(int(math.prod(x.shape)) for x in jax.tree.leaves(adapters))


@dataclasses.dataclass(frozen=True)
class Adapted:
  """A Transformer whose apply() takes {"params": adapters}: the frozen base weights are
  closed over and the adapters merged into them on every call. It stands in for the model
  wherever the training code calls model.apply / model.cfg (the loss, the exact gradient
  accumulation), so those differentiate with respect to the adapters only."""
  model: nn.Module
  base: Any
  scale: float

  @property
  def cfg(self):
    return self.model.cfg

  def apply(self, variables: dict, *args, **kwargs):
    params = merge(self.base, variables["params"], self.scale)
    return self.model.apply({"params": params}, *args, **kwargs)
