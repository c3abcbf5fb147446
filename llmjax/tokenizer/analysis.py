"""Measuring a tokenizer on a text set: compression, fertility, rare pieces, byte fallback.

All functions take a Tokenizer and documents (strings) and return plain numbers / arrays,
so the sweep (llmjax.tokenizer.sweep) and notebooks share one definition of each metric:

- chars per token: Unicode code points / tokens (no BOS/EOS), higher = better compression;
- fertility: tokens per whitespace-separated word;
- byte-fallback rate: share of tokens that are UTF-8 byte pieces (characters the vocabulary
  does not cover);
- rare shares: share of the learned pieces (type 'normal') seen fewer than k times;
- round trip: documents whose decode(encode(doc)) differs from doc (must be 0).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from llmjax.tokenizer.spm import Tokenizer

# Common Tatar suffixes (plural, genitive, locative, dative, ablative, accusative) in
# both vowel-harmony variants: how many of them the vocabulary holds as pieces of their
# own shows whether segmentation follows the morphology.
SUFFIXES = ("лар", "ләр", "нар", "нәр", "ның", "нең", "да", "дә", "та", "тә", "га", "гә",
            "ка", "кә", "дан", "дән", "нан", "нән", "ны", "не")
# Typical inflected words (suffix chains) whose segmentations the report shows.
EXAMPLE_WORDS = ("китапларның", "балаларга", "мәктәпләрдә", "шәһәрләрдән", "укучыларның",
                 "кешеләрнең", "Татарстанның", "китапханәдә", "эшләгәннәр", "өйләребездә")


@dataclasses.dataclass
class TextStats:
  """Counts and rates of one tokenizer on one text set."""

  docs: int
  chars: int
  bytes: int
  words: int
  tokens: int
  byte_tokens: int
  unk_tokens: int
  round_trip_failures: int

  @property
  def chars_per_token(self) -> float:
    return self.chars / max(self.tokens, 1)

  @property
  def bytes_per_token(self) -> float:
    return self.bytes / max(self.tokens, 1)

  @property
  def fertility(self) -> float:
    """Tokens per whitespace-separated word."""
    return self.tokens / max(self.words, 1)

  @property
  def byte_fallback_rate(self) -> float:
    return self.byte_tokens / max(self.tokens, 1)

  def as_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d.update(chars_per_token=self.chars_per_token, bytes_per_token=self.bytes_per_token,
             fertility=self.fertility, byte_fallback_rate=self.byte_fallback_rate)
    return d


def byte_piece_mask(tok: Tokenizer) -> np.ndarray:
  """bool [V]: which ids are UTF-8 byte pieces."""
  return np.array([k == "byte" for k in tok.piece_kinds()])


def text_stats(tok: Tokenizer, docs: Sequence[str],
               ids: Sequence[Sequence[int]] | None = None) -> TextStats:
  """Stats of `docs`; pass their encodings as `ids` to avoid encoding twice."""
  ids = tok.encode_batch(docs) if ids is None else ids
  counts = token_counts(tok, ids)
  failures = sum(tok.decode(x) != d for x, d in zip(ids, docs))
  return TextStats(
      docs=len(docs), chars=sum(len(d) for d in docs),
      bytes=sum(len(d.encode("utf-8")) for d in docs),
      words=sum(len(d.split()) for d in docs), tokens=int(counts.sum()),
      byte_tokens=int(counts[byte_piece_mask(tok)].sum()),
      unk_tokens=int(counts[tok.unk_id]), round_trip_failures=int(failures))


def token_counts(tok: Tokenizer, ids: Sequence[Sequence[int]]) -> np.ndarray:
  """int64 [V]: how often each id occurs in the encodings."""
  flat = np.fromiter((i for x in ids for i in x), dtype=np.int64)
  return np.bincount(flat, minlength=tok.vocab_size)


def learned_mask(tok: Tokenizer) -> np.ndarray:
  """bool [V]: the pieces the trainer learned (not bytes, specials, fillers or reserved)."""
  return np.array([k == "normal" for k in tok.piece_kinds()])


def rare_shares(tok: Tokenizer, counts: np.ndarray,
                thresholds: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
  """Share of learned pieces seen fewer than k times ('lt1' = never used)."""
  learned = counts[learned_mask(tok)]
  n = max(learned.size, 1)
  return {f"lt{k}": float((learned < k).sum() / n) for k in thresholds}


def rank_frequency(counts: np.ndarray) -> np.ndarray:
  """Counts sorted from the most to the least frequent id, zeros dropped (for a Zipf plot)."""
  c = np.sort(counts)[::-1]
  return c[c > 0]


def top_pieces(tok: Tokenizer, counts: np.ndarray, k: int = 20,
               min_chars: int = 1) -> list[tuple[str, int]]:
  """The k most frequent learned pieces of at least min_chars characters."""
  learned = learned_mask(tok)
  out = []
  for i in np.argsort(-counts, kind="stable"):
    if len(out) == k or counts[i] == 0:
      break
    piece = tok.id_to_piece(int(i))
    if learned[i] and len(piece.replace("\u2581", "")) >= min_chars:
      out.append((piece, int(counts[i])))
  return out


def segment(tok: Tokenizer, word: str) -> list[str]:
  """The pieces of `word` as text (byte pieces shown as <0x..>)."""
  return [tok.id_to_piece(i) for i in tok.encode(word)]


def suffix_pieces(tok: Tokenizer, counts: np.ndarray,
                  suffixes: Sequence[str] = SUFFIXES) -> dict[str, int]:
  """For each suffix held as a piece of its own: how often it is used (absent: left out)."""
  out = {}
  for s in suffixes:
    i = tok.piece_to_id(s)
    if i != tok.unk_id and tok.id_to_piece(i) == s:
      out[s] = int(counts[i])
  return out


def mean_piece_chars(tok: Tokenizer, counts: np.ndarray) -> float:
  """Token-weighted mean length of the learned pieces used, in characters."""
  lengths = np.array([len(tok.id_to_piece(i).replace("\u2581", " "))
                      for i in range(tok.vocab_size)])
  mask = learned_mask(tok) & (counts > 0)
  return float((lengths[mask] * counts[mask]).sum() / max(counts[mask].sum(), 1))


def analyse(tok: Tokenizer, train_docs: Sequence[str],
            heldout: dict[str, Sequence[str]]) -> dict:
  """Everything the report shows for one tokenizer: stats per text set, rare shares and
  frequency ranks on the training split, top pieces, suffix pieces and segmentations."""
  train_ids = tok.encode_batch(train_docs)
  counts = token_counts(tok, train_ids)
  result = {
      "vocab_size": tok.vocab_size, "model_type": tok.model_type,
      "tokenizer_sha256": tok.sha256,
      "train": text_stats(tok, train_docs, train_ids).as_dict(),
      "rare": rare_shares(tok, counts),
      "learned_pieces": int(learned_mask(tok).sum()),
      "rank_frequency": rank_frequency(counts).tolist(),
      "top_pieces": top_pieces(tok, counts, 15),
      "top_long_pieces": top_pieces(tok, counts, 15, min_chars=4),
      "suffix_pieces": suffix_pieces(tok, counts),
      "mean_piece_chars": mean_piece_chars(tok, counts),
      # After a space, as the words occur in running text.
      "segmentations": {w: segment(tok, " " + w) for w in EXAMPLE_WORDS},
  }
  for name, docs in heldout.items():
    result[name] = text_stats(tok, docs).as_dict()
  return result
