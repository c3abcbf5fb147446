"""The experiments report: every number in it comes from the result files it reads."""

import json

import pytest

from llmjax.experiments import writeup as report

pytest.importorskip("matplotlib")


def _speedrun(name, flores, tokens, minutes, seeds=2):
  runs = [{"held_flores": [[100, flores + 0.2], [200, flores]]} for _ in range(seeds)]
  return {"recipe": name, "description": f"{name} recipe", "target": 2.4195,
          "tokens_per_step": 2048, "runs": runs,
          "summary": {"seeds": seeds, "reached": seeds if tokens else 0,
                      "flores_at_best": flores, "flores_at_best_spread": 0.001,
                      "tokens_to_target": tokens, "wall_minutes_to_target": minutes,
                      "train_minutes": 9.5}}


@pytest.fixture
def reports(tmp_path):
  (tmp_path / "speedrun").mkdir()
  for name, args in {"baseline": (2.4195, 4096000, 19.5), "half_muon": (2.346, 1638400, 9.6),
                     "half": (2.51, None, None), "half_moe": (2.47, None, None)}.items():
    (tmp_path / "speedrun" / f"{name}.json").write_text(json.dumps(_speedrun(name, *args)))
  (tmp_path / "experiments").mkdir()
  (tmp_path / "experiments" / "remat_cpu.json").write_text(json.dumps({
      "config": "configs/tatar_cpu_baseline.py", "overrides": {"data.batch_size": "32"},
      "rows": [{"policy": "none", "step_ms": 1234.56, "peak_rss_mb": 2000,
                "tokens_per_sec": 6634.2},
               {"policy": "full", "step_ms": 1500.4, "peak_rss_mb": 1500,
                "tokens_per_sec": 5459.9}]}))
  return tmp_path


def test_speedrun_table_and_plot(reports, tmp_path):
  out = tmp_path / "out"
  text = "\n".join(report.speedrun_section(reports, out))
  assert "Target: the baseline's FLORES-dev bits/char, 2.4195" in text
  assert "| half_muon | half_muon recipe | 2 | 2/2 | 1.64M | 9.6 | 2.3460 | 0.0010 |" in text
  assert "| half | half recipe | 2 | 0/2 | – | – | 2.5100 | 0.0010 |" in text
  assert (out / "speedrun.png").stat().st_size > 1000


def test_variants_compare_dense_moe_at_equal_tokens(reports):
  text = "\n".join(report.variants_section(reports))
  assert "| half | half recipe | 2 | 2.5100 | not reached | 9.5 |" in text
  assert "| half_moe | half_moe recipe | 2 | 2.4700 | not reached | 9.5 |" in text
  assert "half_swa" not in text  # not measured: no row, no invented number


def test_remat_rows_are_rounded_and_name_the_overrides(reports, tmp_path):
  text = "\n".join(report.remat_section(reports, tmp_path / "out"))
  assert "{'data.batch_size': '32'}" in text
  assert "| none | 1235 | 2000 | 6,634 |" in text and "| full | 1500 | 1500 | 5,460 |" in text


def test_gpu_rows_say_not_measured():
  text = "\n".join(report.gpu_section())
  assert text.count("not measured here") == len(report.GPU_ONLY)
