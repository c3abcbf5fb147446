"""Tokenizer analysis: compression, fertility, byte fallback, rare pieces, segmentations."""

import numpy as np
import pytest

from llmjax.tokenizer import RESERVED_PIECES, Tokenizer, analysis, train_tokenizer
from tests.fixture_text import fixture_lines

VOCAB = 512


@pytest.fixture(scope="module")
def docs() -> list[str]:
  return fixture_lines()


@pytest.fixture(scope="module")
def tok(docs) -> Tokenizer:
  return train_tokenizer(docs, vocab_size=VOCAB, model_type="bpe")


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
