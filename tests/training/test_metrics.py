"""MFU arithmetic, the peak-FLOPs table, log lines and the metrics.jsonl writer."""

import dataclasses
import json

import pytest

from llmjax.training import metrics


@dataclasses.dataclass
class FakeDevice:
  device_kind: str
  platform: str = "gpu"


@pytest.mark.parametrize("kind,peak", [
    ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA H200", 989e12), ("NVIDIA A100-SXM4-40GB", 312e12), ("NVIDIA L4", 121e12),
    ("Tesla T4", 65e12), ("TPU v4", 275e12), ("TPU v5 lite", 197e12), ("TPU v5p", 459e12),
    ("TPU v6 lite", 918e12)])
def test_peak_flops_table(kind, peak):
  platform = "tpu" if kind.startswith("TPU") else "gpu"
  assert metrics.peak_flops(FakeDevice(kind, platform)) == peak


def test_mfu_is_achieved_over_peak_and_null_on_cpu():
  h100 = FakeDevice("NVIDIA H100 80GB HBM3")
  # 471k tokens/s at 6 * 124M FLOPs/token on one H100 ~ 0.354.
  assert metrics.mfu(471e3, 6 * 124e6, 1, h100) == pytest.approx(471e3 * 6 * 124e6 / 989e12)
  assert metrics.mfu(471e3, 6 * 124e6, 2, h100) == pytest.approx(
      metrics.mfu(471e3, 6 * 124e6, 1, h100) / 2)
  assert metrics.mfu(1e3, 1e6, 1, FakeDevice("cpu", "cpu")) is None
  assert metrics.mfu(1e3, 1e6, 1, FakeDevice("Some New Chip")) is None


def test_log_line_and_duration():
  line = metrics.log_line(20, 200, {"loss": 5.25, "learning_rate": 1e-3, "grad_norm": 0.5,
                                    "tokens_per_sec": 9455.2, "mfu": 0.4}, 95.0)
  assert line == ("step 20/200 | loss 5.2500 | lr 1.00e-03 | gnorm 0.500 | 9,455 tok/s"
                  " | mfu 40.0% | eta 1m35s")
  assert metrics.format_duration(3 * 3600 + 61) == "3h01m"


def test_writer_truncates_records_past_the_resume_step(tmp_path):
  w = metrics.MetricWriter(tmp_path)
  for step in (0, 10, 20, 30):
    w.write(step, {"loss": float(step)})
  w.close()
  w = metrics.MetricWriter(tmp_path, resume_step=20)  # steps 21.. are redone after resume
  w.write(30, {"loss": 3.0})
  w.close()
  steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
  assert steps == [0, 10, 20, 30]
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_writer_drops_the_half_written_line_of_a_killed_run(tmp_path):
  w = metrics.MetricWriter(tmp_path)
  for step in (0, 10):
    w.write(step, {"loss": float(step)})
  w.close()
  with open(tmp_path / "metrics.jsonl", "a") as f:  # kill -9 in the middle of a write
    f.write('{"step": 11, "lo')
  w = metrics.MetricWriter(tmp_path, resume_step=10)
  w.write(20, {"loss": 2.0})
  w.close()
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
  assert [(r["step"], r["loss"]) for r in rows] == [(0, 0.0), (10, 10.0), (20, 2.0)]
