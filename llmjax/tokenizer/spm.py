"""SentencePiece tokenizer: exact round trip of any text, trained in memory.

Settings chosen for an exact `decode(encode(s)) == s`:
- identity normalization, no dummy prefix, no whitespace collapsing: text is kept as is;
- byte fallback: unseen characters (emoji, rare scripts) become UTF-8 byte pieces;
- U+2581 ('▁'), SentencePiece's internal space symbol, would decode as a space, so
  `encode` writes a literal U+2581 as its three byte pieces instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import random
import re
import time
from typing import Callable, Iterable, Sequence

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as spm_pb

from llmjax.corpus.text import corpus_sha256
from llmjax.errors import ConfigError, DataError
from llmjax.paths import atomic_write_bytes, atomic_write_text

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
# Pieces reserved for later chat formatting. They are user-defined symbols: text that
# spells them out encodes to one id and decodes back to the same text.
RESERVED_PIECES = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
# Control pieces appended when a tiny corpus cannot fill the requested vocabulary:
# encode never emits them and they decode to "", so the model's vocab_size is exact.
FILLER_PIECE = "<|reserved_{}|>"
# Fixed thread count: SentencePiece's unigram result depends on it, and a tokenizer
# should not change with the machine it was trained on.
TRAIN_THREADS = 4
TOKENIZER_FILENAME = "tokenizer.model"
_META = "\u2581"
_TOO_HIGH = re.compile(r"value <= (\d+)")
_TOO_SMALL = re.compile(r"smaller than required_chars\. (\d+) vs (\d+)")


class Tokenizer:
  """A thin wrapper of SentencePieceProcessor with exact round trip."""

  def __init__(self, model_proto: bytes):
    self._proto = bytes(model_proto)
    try:
      self._sp = spm.SentencePieceProcessor(model_proto=self._proto)
    except (RuntimeError, OSError, TypeError) as e:
      raise DataError(f"not a valid SentencePiece model: {e}") from e
    self._sha256 = hashlib.sha256(self._proto).hexdigest()
    self._meta_ids = self._byte_ids(_META)

  @classmethod
  def from_proto(cls, model_proto: bytes) -> "Tokenizer":
    return cls(model_proto)

  @classmethod
  def from_file(cls, path: str | os.PathLike) -> "Tokenizer":
    path = pathlib.Path(path)
    if not path.is_file():
      raise DataError(f"tokenizer model {str(path)!r} does not exist")
    try:
      return cls(path.read_bytes())
    except DataError as e:
      raise DataError(f"tokenizer model {str(path)!r} is corrupt: {e}") from e

  def __getstate__(self):
    return {"model_proto": self._proto}

  def __setstate__(self, state):
    self.__init__(state["model_proto"])

  def _byte_ids(self, text: str) -> list[int]:
    ids = [self._sp.piece_to_id(f"<0x{b:02X}>") for b in text.encode("utf-8")]
    return ids if all(i != self._sp.unk_id() for i in ids) else []

  # --- encoding -------------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    """Token ids of `text`, without BOS / EOS."""
    if _META in text and self._meta_ids:
      return self._encode_with_meta(text)
    return self._sp.encode(text, out_type=int)

  def _encode_with_meta(self, text: str) -> list[int]:
    parts = text.split(_META)
    ids: list[int] = []
    for i, part in enumerate(parts):
      if i:
        ids.extend(self._meta_ids)
      if part:
        ids.extend(self._sp.encode(part, out_type=int))
    return ids

  def encode_batch(self, texts: Sequence[str], num_threads: int = -1) -> list[list[int]]:
    """Encodes many texts at once (SentencePiece's threaded batch path)."""
    texts = list(texts)
    if num_threads < 0:
      num_threads = os.cpu_count() or 1
    out = self._sp.encode(texts, out_type=int, num_threads=num_threads) if texts else []
    for i, text in enumerate(texts):
      if _META in text:  # rare: redo the few texts holding a literal U+2581
        out[i] = self.encode(text)
    return out

  def decode(self, ids: Iterable[int]) -> str:
    return self._sp.decode([int(i) for i in ids])

  def id_to_piece(self, i: int) -> str:
    return self._sp.id_to_piece(int(i))

  def piece_to_id(self, piece: str) -> int:
    return self._sp.piece_to_id(piece)

  # --- properties -------------------------------------------------------------------

  @property
  def vocab_size(self) -> int:
    return self._sp.get_piece_size()

  @property
  def filler_pieces(self) -> int:
    """Pieces added only to reach vocab_size (the text was too small to fill it); never
    emitted, so the model's rows for them are wasted."""
    prefix = FILLER_PIECE.split("{")[0]
    return sum(self._sp.is_control(i) and self._sp.id_to_piece(i).startswith(prefix)
               for i in range(self.vocab_size))

  @property
  def pad_id(self) -> int:
    return self._sp.pad_id()

  @property
  def bos_id(self) -> int:
    return self._sp.bos_id()

  @property
  def eos_id(self) -> int:
    return self._sp.eos_id()

  @property
  def unk_id(self) -> int:
    return self._sp.unk_id()

  @property
  def model_proto(self) -> bytes:
    return self._proto

  @property
  def sha256(self) -> str:
    return self._sha256

  @property
  def model_type(self) -> str:
    """'unigram' or 'bpe' (from the model's trainer spec)."""
    m = spm_pb.ModelProto()
    m.ParseFromString(self._proto)
    return spm_pb.TrainerSpec.ModelType.Name(m.trainer_spec.model_type).lower()

  def piece_kinds(self) -> list[str]:
    """Per id: 'normal', 'unknown', 'control', 'user_defined', 'byte' or 'unused'."""
    m = spm_pb.ModelProto()
    m.ParseFromString(self._proto)
    return [spm_pb.ModelProto.SentencePiece.Type.Name(p.type).lower() for p in m.pieces]

  def save(self, path: str | os.PathLike) -> None:
    atomic_write_bytes(path, self._proto)

  def __repr__(self) -> str:
    return f"Tokenizer(vocab_size={self.vocab_size}, sha256={self.sha256[:12]})"


def sample_documents(docs: Sequence[str], max_sentences: int, seed: int) -> list[str]:
  """A seeded subset of at most max_sentences docs, in their original order."""
  if max_sentences <= 0 or len(docs) <= max_sentences:
    return list(docs)
  keep = sorted(random.Random(seed).sample(range(len(docs)), max_sentences))
  return [docs[i] for i in keep]


def _spm_train(docs: Sequence[str], vocab_size: int, model_type: str,
               hard_vocab_limit: bool) -> bytes:
  buf = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(docs),
      model_writer=buf,
      vocab_size=vocab_size,
      model_type=model_type,
      hard_vocab_limit=hard_vocab_limit,
      normalization_rule_name="identity",
      byte_fallback=True,
      add_dummy_prefix=False,
      remove_extra_whitespaces=False,
      split_digits=True,
      character_coverage=0.9995,
      max_sentence_length=1 << 15,  # bytes; the default 4192 silently drops long lines
      shuffle_input_sentence=False,  # we sample ourselves, deterministically
      pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
      user_defined_symbols=list(RESERVED_PIECES),
      num_threads=TRAIN_THREADS,
      minloglevel=2,
  )
  return buf.getvalue()


def _pad_vocab(proto: bytes, vocab_size: int) -> bytes:
  """Appends control pieces until the model has exactly vocab_size pieces."""
  pb = spm_pb
  m = pb.ModelProto()
  m.ParseFromString(proto)
  existing = {p.piece for p in m.pieces}
  i = 0
  while len(m.pieces) < vocab_size:
    name = FILLER_PIECE.format(i)
    i += 1
    if name in existing:
      continue
    piece = m.pieces.add()
    piece.piece, piece.score, piece.type = name, 0.0, pb.ModelProto.SentencePiece.CONTROL
  m.trainer_spec.vocab_size = vocab_size
  return m.SerializeToString()


def train_tokenizer(docs: Sequence[str], *, vocab_size: int, model_type: str = "unigram",
                    out_path: str | os.PathLike | None = None,
                    max_sentences: int = 0, seed: int = 0) -> Tokenizer:
  """Trains a SentencePiece model of exactly vocab_size pieces on `docs`.

  At most max_sentences docs (a seeded subset) are used. When the text is too small
  to fill vocab_size, SentencePiece is rerun with a soft limit and the vocabulary is
  filled up with never-emitted control pieces, so callers always get vocab_size.
  The model is written atomically to out_path when given.
  """
  if model_type not in ("unigram", "bpe"):
    raise ConfigError(f"data.tokenizer_model_type={model_type!r}; choose 'unigram' or 'bpe'")
  sample = sample_documents(docs, max_sentences, seed)
  if not sample:
    raise DataError("cannot train a tokenizer on zero documents")
  try:
    proto = _spm_train(sample, vocab_size, model_type, hard_vocab_limit=True)
  except RuntimeError as e:
    msg = str(e)
    if m := _TOO_SMALL.search(msg):
      raise ConfigError(
          f"model.vocab_size={vocab_size} is too small for this text: the tokenizer needs "
          f"at least {m.group(2)} pieces (256 bytes, specials and every common "
          f"character); set --config.model.vocab_size=N with N >= {m.group(2)}") from e
    if not _TOO_HIGH.search(msg):
      raise DataError(f"tokenizer training failed: {msg}") from e
    proto = _spm_train(sample, vocab_size, model_type, hard_vocab_limit=False)
  tok = Tokenizer(proto)
  if tok.vocab_size < vocab_size:
    tok = Tokenizer(_pad_vocab(proto, vocab_size))
  if out_path is not None:
    tok.save(out_path)
  return tok


@dataclasses.dataclass(frozen=True)
class TokenizerSpec:
  """What a tokenizer is trained with (besides the documents)."""
  vocab_size: int
  model_type: str = "unigram"
  max_sentences: int = 0  # deterministic sample cap on training documents (0 = all)
  seed: int = 0  # seed of that sample


def _record(path: pathlib.Path) -> pathlib.Path:
  return path.with_name(path.name + ".json")


def _read_record(path: pathlib.Path) -> dict:
  try:
    return json.loads(_record(path).read_text())
  except (OSError, ValueError):
    return {}


def load_or_train(path: str | os.PathLike, docs: Sequence[str], spec: TokenizerSpec, *,
                  keep_existing: bool = False, docs_sha: str | None = None,
                  log: Callable[[str], None] = lambda msg: None) -> tuple[Tokenizer, bool]:
  """(tokenizer, reused): the one tokenizer cache, `path` plus a `<path>.json` record.

  The model at `path` is reused when its record shows the same documents (sha256) and spec;
  otherwise one is trained on `docs` and written with its record. keep_existing=True (a
  training workdir) reuses a model at `path` whatever its record says, as long as its
  vocabulary size and type match `spec`: a run's tokenizer never changes under its
  checkpoints. A mismatch is a ConfigError that modifies nothing.
  """
  path = pathlib.Path(path)
  if spec.vocab_size < 1:
    raise ConfigError(f"vocab_size={spec.vocab_size} must be positive")
  if keep_existing and path.is_file():
    tok = Tokenizer.from_file(path)
    _check_matches(tok, spec, path)
    log(f"reusing {path} ({tok.vocab_size} pieces)")
    return tok, True
  docs_sha = docs_sha or corpus_sha256(docs)
  record = {"corpus_sha256": docs_sha, **dataclasses.asdict(spec)}
  if path.is_file():
    saved = _read_record(path)
    try:
      tok = Tokenizer.from_file(path)
    except DataError:
      tok = None  # corrupt: retrain
    if tok is not None and {k: saved.get(k) for k in record} == record and \
        saved.get("tokenizer_sha256") == tok.sha256:
      log(f"reusing {path} (trained on the same documents)")
      return tok, True
  start = time.perf_counter()
  used = min(len(docs), spec.max_sentences or len(docs))
  log(f"training a {spec.model_type} tokenizer ({spec.vocab_size} pieces) on {used:,} "
      "documents ...")
  tok = train_tokenizer(docs, vocab_size=spec.vocab_size, model_type=spec.model_type,
                        out_path=path, max_sentences=spec.max_sentences, seed=spec.seed)
  record.update(tokenizer_sha256=tok.sha256, docs_used=used)
  atomic_write_text(_record(path), json.dumps(record, indent=1) + "\n")
  log(f"trained the tokenizer in {time.perf_counter() - start:.1f}s -> {path}")
  return tok, False


def _check_matches(tok: Tokenizer, spec: TokenizerSpec, path: pathlib.Path) -> None:
  if tok.vocab_size != spec.vocab_size:
    raise ConfigError(
        f"{str(path)!r} has {tok.vocab_size} pieces but model.vocab_size={spec.vocab_size}: "
        f"set --config.model.vocab_size={tok.vocab_size}, or use a new workdir")
  if tok.model_type != spec.model_type:
    raise ConfigError(
        f"{str(path)!r} is {tok.model_type} but data.tokenizer_model_type="
        f"{spec.model_type!r}: put the old value back, or use a new workdir")


def load_checked(path: str | os.PathLike, vocab_size: int) -> Tokenizer:
  """An existing model (data.tokenizer_path) whose vocabulary must have vocab_size pieces."""
  path = pathlib.Path(path)
  tok = Tokenizer.from_file(path)
  if tok.vocab_size != vocab_size:
    raise ConfigError(f"tokenizer {str(path)!r} (data.tokenizer_path) has {tok.vocab_size} "
                      f"pieces but model.vocab_size={vocab_size}: set "
                      f"--config.model.vocab_size={tok.vocab_size}")
  return tok
