"""Throughput, MFU, and the metric writers (stdout, TensorBoard, metrics.jsonl)."""

from __future__ import annotations

import json
import math
import pathlib
import statistics
import time
from typing import Any

import jax
from tensorboardX import SummaryWriter  # TensorBoard event files without TensorFlow

from llmjax.errors import DataError
from llmjax.paths import atomic_directory, atomic_write_lines
from llmjax.training import records

# Dense bf16 peak FLOP/s per device, from vendor datasheets (no sparsity). Matched by
# substring of `device.device_kind`, first hit wins, so specific names come first.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM / HBM3
    ("H200", 989e12),
    ("H800", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 125e12),
    ("T4", 65e12),  # fp16 tensor cores; T4 has no bf16 units
    ("V100", 125e12),
    ("TPU v4", 275e12),
    ("TPU v5 lite", 197e12),  # v5e
    ("TPU v5e", 197e12),
    ("TPU v5p", 459e12),
    ("TPU v5", 459e12),
    ("TPU v6 lite", 918e12),  # v6e (Trillium)
    ("TPU v6e", 918e12),
)


def peak_flops(device: jax.Device | None = None) -> float | None:
  """Per-device peak, or None where MFU is meaningless (CPU, unknown chips)."""
  device = device or jax.devices()[0]
  if device.platform == "cpu":
    return None
  kind = device.device_kind
  for name, flops in PEAK_FLOPS:
    if name.lower() in kind.lower():
      return flops
  return None


def mfu(tokens_per_sec: float, flops_per_token: float, num_devices: int,
        device: jax.Device | None = None) -> float | None:
  peak = peak_flops(device)
  if peak is None:
    return None
  return tokens_per_sec * flops_per_token / (peak * num_devices)


def matmul_flops_per_sec(n: int = 512, repeats: int = 5) -> float:
  """This device's float32 matmul speed (median of a few n x n products): a quick yardstick
  for how long a run will take before any train step has run."""
  x = jax.numpy.ones((n, n), jax.numpy.float32)
  f = jax.jit(lambda a: a @ a)
  f(x).block_until_ready()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    f(x).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * n**3 / max(statistics.median(times), 1e-9)


def format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _clean(v: Any) -> Any:
  if hasattr(v, "item"):
    v = v.item()
  if isinstance(v, float) and not math.isfinite(v):
    return None
  return v


class MetricWriter:
  """Writes the same scalars to metrics.jsonl and TensorBoard; only process 0 writes.

  metrics.jsonl is the record: a resumed run first drops what an interrupted run logged
  past its last checkpoint, and TensorBoard's event files are rebuilt from what is left, so
  every step appears once in both. TensorBoard is flushed at every write (every log and
  evaluation point): a killed run loses nothing that was logged.
  """

  def __init__(self, workdir: pathlib.Path, *, resume_step: int = 0):
    self.enabled = jax.process_index() == 0
    self.path = pathlib.Path(workdir) / records.FILE
    self.tb_dir = pathlib.Path(workdir) / "tensorboard"
    self._tb = None
    if not self.enabled:
      return
    kept = self._truncate_after(resume_step)
    with atomic_directory(self.tb_dir, replace=True) as tmp:
      replay = SummaryWriter(str(tmp))
      for record in kept:
        self._add(replay, record)
      replay.close()
    self._tb = SummaryWriter(str(self.tb_dir))

  def _truncate_after(self, step: int) -> list[dict[str, Any]]:
    """Drops the records past `step` (an interrupted run's); returns the others."""
    kept = [r for r in records.read(self.path.parent) if r.get("step", 0) <= step]
    atomic_write_lines(self.path, [json.dumps(r) for r in kept])
    return kept

  @staticmethod
  def _add(tb: SummaryWriter, record: dict[str, Any]) -> None:
    for k, v in record.items():
      if k != "step" and isinstance(v, (int, float)):
        tb.add_scalar(k, v, record["step"])

  def write(self, step: int, scalars: dict[str, Any]) -> None:
    if not self.enabled:
      return
    record = {"step": int(step), **{k: _clean(v) for k, v in scalars.items()}}
    try:
      with self.path.open("a") as f:
        f.write(json.dumps(record) + "\n")
    except OSError as e:
      raise DataError(f"cannot write {str(self.path)!r}: {e.strerror or e}") from e
    self._add(self._tb, record)
    self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def log_line(step: int, total: int, scalars: dict[str, Any], eta_s: float | None) -> str:
  parts = [f"step {step}/{total}"]
  fmt = {"loss": "loss {:.4f}", "learning_rate": "lr {:.2e}", "grad_norm": "gnorm {:.3f}",
         "tokens_per_sec": "{:,.0f} tok/s", "val_loss": "val_loss {:.4f}",
         "val_bits_per_char": "val_bpc {:.4f}",
         "flores_bits_per_char": "flores_bpc {:.4f}",
         "flores_second_half_bits": "flores second half {:.1f} bits",
         "fewshot_qa_accuracy": "qa acc {:.3f}",
         "fewshot_tatblimp_accuracy": "tatblimp acc {:.3f}",
         "probe_format_rate": "answer format {:.2f}", "probe_stop_rate": "stops {:.2f}",
         "probe_chrf": "chrF {:.1f}"}
  for key, f in fmt.items():
    if scalars.get(key) is not None:
      parts.append(f.format(scalars[key]))
  if scalars.get("mfu") is not None:
    parts.append(f"mfu {100 * scalars['mfu']:.1f}%")
  if eta_s is not None:
    parts.append(f"eta {format_duration(eta_s)}")
  return " | ".join(parts)
