"""Device mesh and the mapping of logical array axes onto it.

Model code names its array dimensions ('embed', 'mlp', 'batch', ...); which mesh axis each
name is split over is a rule in the config (`mesh.rules`), so the same model runs data
parallel, FSDP or tensor parallel by changing only the config.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from llmjax.config import MeshConfig
from llmjax.errors import ConfigError

MESH_AXES = ("data", "fsdp", "expert", "tensor")

def mesh_shape(cfg: MeshConfig, num_devices: int) -> tuple[int, ...]:
  """Resolves the one -1 entry so the mesh covers all devices."""
  sizes = [cfg.data, cfg.fsdp, cfg.expert, cfg.tensor]
  if sizes.count(-1) > 1:
    raise ConfigError(
        "at most one of mesh.data / mesh.fsdp / mesh.expert / mesh.tensor may be -1")
  if any(s == 0 or s < -1 for s in sizes):
    raise ConfigError(f"mesh sizes must be positive or -1, got {sizes}")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if num_devices % known:
      raise ConfigError(f"{num_devices} devices cannot be split into mesh {sizes}")
    sizes[sizes.index(-1)] = num_devices // known
  if math.prod(sizes) != num_devices:
    raise ConfigError(
        f"mesh data×fsdp×expert×tensor = {sizes} needs {math.prod(sizes)} devices, "
        f"have {num_devices}")
  return tuple(sizes)


def make_mesh(cfg: MeshConfig, devices: list | None = None) -> Mesh:
  # Auto axis types on purpose: shardings come from jit in/out shardings and
  # logical constraints, and XLA propagates the rest (Explicit would type every op).
  devices = devices if devices is not None else jax.devices()
  shape = mesh_shape(cfg, len(devices))
  return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES),
                       devices=devices)


def rules(cfg: MeshConfig) -> tuple[tuple[str, Any], ...]:
  return cfg.rules


@contextlib.contextmanager
def activate(mesh: Mesh, cfg: MeshConfig) -> Iterator[None]:
  """Mesh + logical rules context under which the model is traced."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules(cfg)):
    yield


def logical_to_sharding(logical_specs: Any, mesh: Mesh, cfg: MeshConfig) -> Any:
  return nn.logical_to_mesh_sharding(logical_specs, mesh, rules(cfg))


def boxed_shardings(boxed: Any, mesh: Mesh, cfg: MeshConfig) -> Any:
  """Shardings for the unboxed version of a tree of logically-partitioned boxes (a train
  state from init): each box's logical names through the rules; replicated otherwise.

  Built leaf by leaf, so the result has exactly the unboxed tree's structure, whatever
  empty nodes an optimizer state holds (optax's MaskedNode, for one)."""
  is_box = lambda x: isinstance(x, nn.Partitioned)
  shardings = []
  for leaf in jax.tree_util.tree_leaves(boxed, is_leaf=is_box):
    if not is_box(leaf):
      shardings.append(replicated(mesh))
    else:  # an optimizer may box an empty node (no leaves once unboxed)
      spec = NamedSharding(mesh, nn.logical_to_mesh_axes(leaf.names, rules(cfg)))
      shardings += [spec] * len(jax.tree_util.tree_leaves(leaf.unbox()))
  return jax.tree_util.tree_unflatten(jax.tree.structure(nn.unbox(boxed)), shardings)


def batch_sharding(mesh: Mesh, cfg: MeshConfig) -> NamedSharding:
  """Sharding of [batch, length] input arrays."""
  spec = nn.logical_to_mesh_axes(("batch", "length"), rules(cfg))
  return NamedSharding(mesh, spec)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Assembles each process's rows into one global array (multi-host safe)."""
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
