"""The tokenizer lab: the sweep on the fixture corpus, downstream summaries, the report and
its plots."""

import json

import pytest

from llmjax.tokenizer import lab


def _fake_downstream(path, config, mt, seed, results):
  runs = [{"vocab_size": v, "model_type": mt, "steps": 10, "tokens": 100,
           "train_flops": 1e9, "data": {"train_chars_per_token": 3.0, "train_tokens": 50},
           "val_bits_per_char_best": val, "flores_dev": {"bits_per_char": fl}}
          for v, val, fl in results]
  path.write_text(json.dumps({"config": config, "overrides": {"seed": seed},
                              "model_type": mt, "ref_vocab": 8192, "ref_steps": 10,
                              "batch_size": 2, "seq_len": 512, "device": "cpu",
                              "runs": runs}))


def test_sweep_report_on_fixture(tatar_fixture_dir, tmp_path):
  res = lab.run_sweep(str(tatar_fixture_dir), "", [512, 640], ["bpe"],
                        str(tmp_path / "cache"), 0, 0.1)
  assert [r["vocab_size"] for r in res["results"]] == [512, 640]
  assert all(r["val"]["round_trip_failures"] == 0 for r in res["results"])
  assert res["results"][1]["train"]["chars_per_token"] >= \
      res["results"][0]["train"]["chars_per_token"]
  out = tmp_path / "report"
  out.mkdir()
  _fake_downstream(out / "downstream_a.json", "configs/tatar_small.py", "unigram", 0,
                   [(4096, 1.50, 2.34), (8192, 1.52, 2.35)])
  _fake_downstream(out / "downstream_b.json", "configs/tatar_small.py", "unigram", 1,
                   [(4096, 1.52, 2.36), (8192, 1.50, 2.33)])
  rows = lab.downstream_summary(lab.load_downstream(out))
  by_v = {r["vocab_size"]: r for r in rows}
  assert by_v[4096]["seeds"] == 2 and by_v[4096]["flores_bpc"] == pytest.approx(2.35)
  assert lab.choose_vocab(rows, "configs/tatar_small.py", "unigram")["vocab_size"] == 8192
  text = lab.render(res, rows, [], "cmd")
  assert "| bpe | 512 |" in text and "| bpe | 640 |" in text
  assert "Chosen: **8192 unigram**" in text
  assert "0 / " in text  # round-trip failures column


def test_sweep_plots(tatar_fixture_dir, tmp_path):
  pytest.importorskip("matplotlib")
  res = lab.run_sweep(str(tatar_fixture_dir), "", [512, 640], ["bpe", "unigram"],
                        str(tmp_path / "cache"), 0, 0.1)
  _fake_downstream(tmp_path / "downstream_a.json", "configs/tiny.py", "unigram", 0,
                   [(512, 3.0, 3.1), (640, 2.9, 3.0)])
  rows = lab.downstream_summary(lab.load_downstream(tmp_path))
  written = lab.write_plots(res, rows, tmp_path)
  assert written == ["compression.png", "fertility.png", "rare_tokens.png",
                     "rank_frequency.png", "downstream.png"]
  for name in written:
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert not list(tmp_path.glob(".*.tmp.png"))
