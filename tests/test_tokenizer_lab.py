"""Tokenizer lab: analysis metrics, the train CLI and its cache, token shards, the sweep."""

import json
import os
import pathlib
import subprocess
import sys

import grain
import numpy as np
import pytest

from llmjax.data import token_shards
from llmjax.data.packing import pack_documents, tokenize_documents
from llmjax.data.text import split_documents
from llmjax.errors import DataError
from llmjax.tokenizer import RESERVED_PIECES, Tokenizer, analysis, sweep, train_tokenizer
from llmjax.tokenizer import downstream
from llmjax.tokenizer import train as tok_train
from tests.fixture_text import fixture_lines

VOCAB = 512
REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def docs() -> list[str]:
  return fixture_lines()


@pytest.fixture(scope="module")
def tok(docs) -> Tokenizer:
  return train_tokenizer(docs, vocab_size=VOCAB, model_type="bpe")


# --- analysis ------------------------------------------------------------------------------


def test_text_stats_match_hand_counts(tok):
  texts = ["Казан шәһәре матур.", "emoji 😀 here", "  two  spaces "]
  ids = tok.encode_batch(texts)
  s = analysis.text_stats(tok, texts)
  n_tokens = sum(len(x) for x in ids)
  assert s.tokens == n_tokens and s.docs == 3
  assert s.chars == sum(len(t) for t in texts)
  assert s.words == 3 + 3 + 2
  assert s.chars_per_token == pytest.approx(s.chars / n_tokens)
  assert s.fertility == pytest.approx(n_tokens / 8)
  by_name = sum(tok.id_to_piece(i).startswith("<0x") for x in ids for i in x)
  assert s.byte_tokens == by_name and s.byte_fallback_rate == pytest.approx(by_name / n_tokens)
  # An emoji is not in the vocabulary: its 4 UTF-8 bytes become 4 byte pieces.
  assert analysis.text_stats(tok, ["😀"]).byte_tokens == 4
  assert analysis.text_stats(tok, ["Казан"]).byte_fallback_rate == 0.0
  assert s.round_trip_failures == 0 and s.unk_tokens == 0


def test_round_trip_failures_are_counted(tok):
  texts = ["Казан", "Идел"]
  bad_ids = [tok.encode("Казан"), tok.encode("Идел") + tok.encode("!")]
  assert analysis.text_stats(tok, texts, bad_ids).round_trip_failures == 1


def test_counts_rare_shares_and_rank_frequency(tok, docs):
  ids = tok.encode_batch(docs)
  counts = analysis.token_counts(tok, ids)
  assert counts.shape == (VOCAB,) and counts.sum() == sum(len(x) for x in ids)
  learned = analysis.learned_mask(tok)
  kinds = tok.piece_kinds()
  assert learned.sum() == kinds.count("normal")
  assert not learned[[0, 1, 2, 3]].any()  # pad, bos, eos, unk are not learned pieces
  assert not learned[[tok.piece_to_id(p) for p in RESERVED_PIECES]].any()
  rare = analysis.rare_shares(tok, counts, (1, 10, 100))
  lc = counts[learned]
  assert rare["lt10"] == pytest.approx((lc < 10).mean())
  assert rare["lt1"] <= rare["lt10"] <= rare["lt100"]
  rf = analysis.rank_frequency(counts)
  assert (np.diff(rf) <= 0).all() and rf.sum() == counts.sum() and (rf > 0).all()
  top = analysis.top_pieces(tok, counts, 5)
  assert len(top) == 5 and [c for _, c in top] == sorted([c for _, c in top], reverse=True)
  assert top[0][1] == lc.max()


def test_analyse_segments_and_suffixes(tok, docs):
  r = analysis.analyse(tok, docs[:200], {"held": docs[200:260]})
  for w in analysis.EXAMPLE_WORDS:
    assert "".join(r["segmentations"][w]).replace("\u2581", " ").startswith(" ") or \
        r["segmentations"][w][0].startswith("<0x")
  # Pieces of the segmentation decode back to the word.
  w = analysis.EXAMPLE_WORDS[0]
  assert tok.decode([tok.piece_to_id(p) for p in r["segmentations"][w]]) == " " + w
  assert r["held"]["docs"] == 60 and r["held"]["round_trip_failures"] == 0
  for s, n in r["suffix_pieces"].items():
    assert tok.id_to_piece(tok.piece_to_id(s)) == s and n >= 0


# --- train CLI and cache -----------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_special_tokens_both_model_types(docs, tmp_path, model_type):
  t, reused = tok_train.train_cached(docs, tmp_path / "t.model", vocab_size=VOCAB,
                                     model_type=model_type)
  assert not reused and t.model_type == model_type and t.vocab_size == VOCAB
  assert (t.pad_id, t.bos_id, t.eos_id, t.unk_id) == (0, 1, 2, 3)
  assert [t.id_to_piece(i) for i in range(3)] == ["<pad>", "<s>", "</s>"]
  for piece in RESERVED_PIECES:
    assert t.encode(piece) == [t.piece_to_id(piece)]
  meta = json.loads((tmp_path / "t.model.json").read_text())
  assert meta["tokenizer_sha256"] == t.sha256 and meta["vocab_size"] == VOCAB


def test_train_cache_reuses_and_invalidates(docs, tmp_path, monkeypatch):
  out = tmp_path / "t.model"
  first, reused = tok_train.train_cached(docs, out, vocab_size=VOCAB, model_type="bpe")
  assert not reused

  def no_training(*a, **k):
    raise AssertionError("retrained although nothing changed")

  with monkeypatch.context() as m:
    m.setattr(tok_train, "train_tokenizer", no_training)
    again, reused = tok_train.train_cached(docs, out, vocab_size=VOCAB, model_type="bpe")
  assert reused and again.sha256 == first.sha256
  # Another corpus, vocab size or sample cap is another tokenizer: retrained.
  _, reused = tok_train.train_cached(docs[:-5], out, vocab_size=VOCAB, model_type="bpe")
  assert not reused
  _, reused = tok_train.train_cached(docs, out, vocab_size=VOCAB + 64, model_type="bpe")
  assert not reused
  _, reused = tok_train.train_cached(docs, out, vocab_size=VOCAB + 64, model_type="bpe",
                                     max_sentences=100)
  assert not reused
  # A damaged sidecar or model is not trusted.
  (tmp_path / "t.model.json").write_text("{not json")
  _, reused = tok_train.train_cached(docs, out, vocab_size=VOCAB + 64, model_type="bpe",
                                     max_sentences=100)
  assert not reused


def test_sample_cap_is_deterministic(docs, tmp_path):
  a, _ = tok_train.train_cached(docs, tmp_path / "a.model", vocab_size=VOCAB,
                                model_type="bpe", max_sentences=300, seed=3)
  b, _ = tok_train.train_cached(docs, tmp_path / "b.model", vocab_size=VOCAB,
                                model_type="bpe", max_sentences=300, seed=3)
  c, _ = tok_train.train_cached(docs, tmp_path / "c.model", vocab_size=VOCAB,
                                model_type="bpe", max_sentences=300, seed=4)
  assert a.sha256 == b.sha256 != c.sha256
  assert json.loads((tmp_path / "a.model.json").read_text())["docs_used"] == 300


def _cli(module, *args):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120)


def test_train_cli_uses_the_training_split_and_caches(tatar_fixture_dir, tmp_path):
  out = tmp_path / "cli.model"
  args = [f"--text_dir={tatar_fixture_dir}", f"--out={out}", "--vocab_size=512",
          "--model_type=bpe", "--val_fraction=0.1"]
  p = _cli("llmjax.tokenizer.train", *args)
  assert p.returncode == 0, p.stderr
  r = json.loads(p.stdout.strip().splitlines()[-1])
  train, _ = split_documents(tok_train.read_documents(tatar_fixture_dir), 0.1)
  assert r["train_docs"] == len(train) and not r["reused"]
  assert Tokenizer.from_file(out).sha256 == r["tokenizer_sha256"]
  assert json.loads(out.with_name("cli.model.json").read_text())["corpus_sha256"] == \
      tok_train.corpus_sha256(train)
  p = _cli("llmjax.tokenizer.train", *args)
  assert json.loads(p.stdout.strip().splitlines()[-1])["reused"] is True
  p = _cli("llmjax.tokenizer.train", *args[:2], "--vocab_size=10")
  assert p.returncode == 2 and p.stderr.strip().startswith("error: ")


# --- token shards ------------------------------------------------------------------------------


def test_token_dtype():
  assert token_shards.token_dtype(512) == np.uint16
  assert token_shards.token_dtype(65535) == np.uint16
  assert token_shards.token_dtype(65536) == np.uint32
  with pytest.raises(DataError):
    token_shards.token_dtype(0)


def test_shards_round_trip_and_grain(tok, docs, tmp_path):
  shards = token_shards.write_token_shards(docs, tok, tmp_path / "s", num_workers=1,
                                           docs_per_shard=97)
  ref = tokenize_documents(tok, docs)
  assert len(shards) == len(docs) and len(shards.meta["shards"]) == -(-len(docs) // 97)
  assert all(np.array_equal(a, b) for a, b in zip(ref, shards.documents()))
  assert shards.dtype == np.uint16 and shards[0].dtype == np.int32
  assert shards.num_tokens == sum(len(r) for r in ref)
  assert np.load(tmp_path / "s" / "shard-00000.npy").dtype == np.uint16  # 2 bytes a token
  assert np.array_equal(shards[-1], ref[-1])
  with pytest.raises(IndexError):
    shards[len(docs)]
  # Reopened from disk and read through grain with random access.
  ds = grain.MapDataset.source(token_shards.TokenShards(tmp_path / "s")).shuffle(seed=1)
  got = [ds[i] for i in range(len(ds))]
  assert sorted(map(tuple, got)) == sorted(map(tuple, ref))
  # Packing from shards gives the same rows as packing in memory.
  a, b = pack_documents(ref, 64), pack_documents(shards.documents(), 64)
  assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)


class _BigVocab:
  """A stand-in tokenizer whose ids need 32 bits."""
  vocab_size, bos_id, eos_id, sha256 = 70_000, 1, 2, "big"

  def encode_batch(self, texts, num_threads=1):
    return [[65_536 + len(w) for w in t.split()] for t in texts]


def test_uint32_when_vocab_is_large(tmp_path):
  texts = ["a bb ccc", "dddd", "e"]
  shards = token_shards.write_token_shards(texts, _BigVocab(), tmp_path / "s", num_workers=1)
  assert shards.dtype == np.uint32
  assert shards[0].tolist() == [1, 65_537, 65_538, 65_539, 2]
  assert shards[2].tolist() == [1, 65_537, 2]


def test_parallel_workers_match_serial(tok, docs, tmp_path):
  serial = token_shards.write_token_shards(docs, tok, tmp_path / "a", num_workers=1)
  parallel = token_shards.write_token_shards(docs, tok, tmp_path / "b", num_workers=2,
                                             docs_per_shard=200)
  assert len(parallel.meta["shards"]) >= 2
  assert all(np.array_equal(a, b) for a, b in zip(serial.documents(), parallel.documents()))


def test_cache_key_reuse_and_rebuild(tok, docs, tmp_path):
  a, reused = token_shards.load_or_build(tmp_path, docs, tok, num_workers=1)
  assert not reused
  b, reused = token_shards.load_or_build(tmp_path, docs, tok, num_workers=1)
  assert reused and b.path == a.path
  other_tok = train_tokenizer(docs, vocab_size=VOCAB + 64, model_type="bpe")
  c, reused = token_shards.load_or_build(tmp_path, docs, other_tok, num_workers=1)
  d, reused2 = token_shards.load_or_build(tmp_path, docs[:-1], tok, num_workers=1)
  assert not reused and not reused2 and len({a.path, c.path, d.path}) == 3
  assert a.path.name == "tokens-" + token_shards.shard_key(tok_train.corpus_sha256(docs),
                                                            tok.sha256)
  # A damaged set is rebuilt, not trusted.
  (a.path / "offsets.npy").write_bytes(b"garbage")
  e, reused = token_shards.load_or_build(tmp_path, docs, tok, num_workers=1)
  assert not reused and len(e) == len(docs)


def test_write_is_atomic(tok, docs, tmp_path, monkeypatch):
  calls = []

  def crash_on_second(args):
    calls.append(args)
    if len(calls) == 2:
      raise OSError("disk full")
    return real(args)

  real = token_shards._write_shard
  monkeypatch.setattr(token_shards, "_write_shard", crash_on_second)
  with pytest.raises(OSError, match="disk full"):
    token_shards.write_token_shards(docs, tok, tmp_path / "s", num_workers=1,
                                    docs_per_shard=100)
  assert list(tmp_path.iterdir()) == []  # neither the set nor its temporary folder
  with pytest.raises(DataError, match="zero documents"):
    token_shards.write_token_shards([], tok, tmp_path / "s", num_workers=1)


# --- sweep and downstream -----------------------------------------------------------------------


def test_matched_steps_equalise_flops():
  ref, shape = downstream.flops_per_token("configs/tiny.py", 4096, {})
  for v in (1024, 16384):
    f, _ = downstream.flops_per_token("configs/tiny.py", v, {})
    steps = downstream.matched_steps(shape["total_steps"], ref, f)
    assert abs(steps * f - shape["total_steps"] * ref) <= f / 2  # within half a step
  assert downstream.flops_per_token("configs/tiny.py", 1024, {})[0] < ref


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
  res = sweep.run_sweep(str(tatar_fixture_dir), "", [512, 640], ["bpe"],
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
  rows = sweep.downstream_summary(sweep.load_downstream(out))
  by_v = {r["vocab_size"]: r for r in rows}
  assert by_v[4096]["seeds"] == 2 and by_v[4096]["flores_bpc"] == pytest.approx(2.35)
  assert sweep.choose_vocab(rows, "configs/tatar_small.py", "unigram")["vocab_size"] == 8192
  text = sweep.render(res, rows, [], "cmd")
  assert "| bpe | 512 |" in text and "| bpe | 640 |" in text
  assert "Chosen: **8192 unigram**" in text
  assert "0 / " in text  # round-trip failures column


def test_sweep_plots(tatar_fixture_dir, tmp_path):
  pytest.importorskip("matplotlib")
  res = sweep.run_sweep(str(tatar_fixture_dir), "", [512, 640], ["bpe", "unigram"],
                        str(tmp_path / "cache"), 0, 0.1)
  _fake_downstream(tmp_path / "downstream_a.json", "configs/tiny.py", "unigram", 0,
                   [(512, 3.0, 3.1), (640, 2.9, 3.0)])
  rows = sweep.downstream_summary(sweep.load_downstream(tmp_path))
  written = sweep.write_plots(res, rows, tmp_path)
  assert written == ["compression.png", "fertility.png", "rare_tokens.png",
                     "rank_frequency.png", "downstream.png"]
  for name in written:
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert not list(tmp_path.glob(".*.tmp.png"))
