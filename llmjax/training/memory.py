"""How many rows a device takes at once: the microbatch that fits the device's memory.

data.batch_size stays the global batch; with accumulation (exact: llmjax.training.step) a
device processes rows_per_device / accum rows at a time. `choose` compiles the train step
for candidate microbatches and keeps the largest whose compiled memory (XLA's own
`memory_analysis()` of the step) fits the budget: the device's memory on a GPU or TPU, the
available RAM on a CPU (shared by its simulated devices), or train.memory_limit_mb.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import psutil

from llmjax.errors import ConfigError
from llmjax.training.step import Trainer

HEADROOM = 0.85  # use at most this share of the budget (fragmentation, the eval step, ...)


@dataclasses.dataclass(frozen=True)
class Microbatch:
  rows: int  # per device, per accumulation step
  accum: int  # accumulation steps per optimizer step
  step_bytes: int  # compiled memory of the train step, per device
  budget_bytes: int  # what the device offers (before HEADROOM)
  compiled: Any = dataclasses.field(repr=False, default=None)

  def describe(self, global_batch: int, devices: int) -> str:
    accum = f"x {self.accum} accumulated " if self.accum > 1 else "(no accumulation) "
    return (f"microbatch: {self.rows} rows per device {accum}x {devices} device(s) = global "
            f"batch {global_batch}; the compiled step needs {self.step_bytes / 2**30:.2f} GiB "
            f"of {self.budget_bytes / 2**30:.1f} GiB per device")


def device_budget(limit_mb: int = 0) -> int:
  """Bytes one device can use: limit_mb if set, else the accelerator's memory, else (CPU)
  the available RAM divided among this process's devices."""
  if limit_mb:
    return limit_mb * 2**20
  device = jax.local_devices()[0]
  stats = device.memory_stats() if device.platform != "cpu" else None
  if stats and stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return int(psutil.virtual_memory().available // jax.local_device_count())


def step_bytes(compiled) -> int:
  """Peak device memory of a compiled step (arguments, outputs, temporaries, code)."""
  m = compiled.memory_analysis()
  if m is None:  # a backend without the analysis: assume it fits
    return 0
  total = (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
           + m.temp_size_in_bytes + m.generated_code_size_in_bytes)
  return int(max(total, getattr(m, "peak_memory_in_bytes", 0) or 0))


def _divisors_desc(n: int) -> list[int]:
  return [d for d in range(n, 0, -1) if n % d == 0]


def choose(trainer: Trainer, limit_mb: int = 0,
           log: Callable[[str], None] = lambda msg: None) -> Microbatch:
  """The largest microbatch whose compiled train step fits; ConfigError if none does."""
  budget = device_budget(limit_mb)
  usable = budget * HEADROOM
  rows = trainer.rows_per_device
  candidates = _divisors_desc(rows)
  measured: dict[int, int] = {}

  def measure(m: int):
    compiled = trainer.compile_step(rows // m)
    measured[m] = step_bytes(compiled)
    log(f"  {m} rows per device: the step needs {measured[m] / 2**30:.2f} GiB")
    return compiled

  m = candidates[0]
  compiled = measure(m)
  while measured[m] > usable:
    smaller = [c for c in candidates if c < m]
    if not smaller:
      raise ConfigError(
          f"one row of data.seq_len={trainer.cfg.data.seq_len} tokens per device needs "
          f"{measured[m] / 2**30:.2f} GiB, more than the {usable / 2**30:.2f} GiB this device "
          "offers: use a smaller model, a shorter data.seq_len, model.remat='full', or more "
          "devices (mesh.fsdp)")
    # Memory grows about linearly with the rows; jump to the largest that should fit.
    per_row = measured[m] / m
    guess = [c for c in smaller if c * per_row <= usable]
    m = guess[0] if guess else smaller[-1]
    compiled = measure(m)
  return Microbatch(m, rows // m, measured[m], budget, compiled)


def resolve(trainer: Trainer, microbatch_size: int = 0,
            log: Callable[[str], None] = lambda msg: None) -> Microbatch:
  """`microbatch_size` rows per device if > 0 (checked, and compiled to report its memory),
  else the automatic choice; the trainer then uses it."""
  t = trainer.cfg.train
  rows = trainer.rows_per_device
  if microbatch_size:
    if rows % microbatch_size:
      raise ConfigError(f"train.microbatch_size={microbatch_size} must divide the {rows} "
                        f"rows each device takes per step (data.batch_size="
                        f"{trainer.cfg.data.batch_size} over {trainer.batch_shards} devices)")
    compiled = trainer.compile_step(rows // microbatch_size)
    choice = Microbatch(microbatch_size, rows // microbatch_size, step_bytes(compiled),
                        device_budget(t.memory_limit_mb), compiled)
  else:
    choice = choose(trainer, t.memory_limit_mb, log)
  trainer.set_accum(choice.accum, choice.compiled)
  return choice
