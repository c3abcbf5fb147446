"""Sentence-level language identification: Tatar vs Russian, Bashkir, English, other.

Two layers, both built here (no model download is possible on the development machines):
1. letter rules: script shares, the Bashkir-only letters ҡ ғ ҙ ҫ, letters of other Cyrillic
   languages (Kazakh қ ұ і, Ukrainian ї є);
2. a naive-Bayes classifier over character 1-3-grams. Its statistics (log-probabilities of
   the most frequent n-grams per language -- numbers, not text) live in langid_model.json,
   derived from the training halves (by text hash) of the development data's labelled mix
   (Tatar training text; Russian, Bashkir, English NTREX; llmjax.paths.labelled_mix_dir());
   the other halves plus the Tatar eval sets measure it:

  python -m llmjax.corpus.langid_eval --train   # rebuilds langid_model.json
  python -m llmjax.corpus.langid_eval           # precision / recall on the held-out mix
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import os
import pathlib
import re
from typing import Iterable, Sequence

import numpy as np

from llmjax.corpus.normalize import normalize_line
from llmjax.corpus.text import doc_hash_fraction
from llmjax.errors import DataError
from llmjax.paths import atomic_write_text

LANGS = ("tat", "rus", "bak", "eng")  # the classes the n-gram model scores
OTHER = "other"
MODEL_PATH = pathlib.Path(__file__).with_name("langid_model.json")
TRAIN_FRACTION = 0.5  # documents with hash fraction < this train the model; the rest test it
TOP_NGRAMS = 1500  # per language and n-gram order kept in the model file
ORDERS = (1, 2, 3)

TATAR_LETTERS = "әөүҗңһ"
BASHKIR_ONLY = "ҡғҙҫ"
OTHER_CYRILLIC = "құіїєўђћџљњѓќ"  # Kazakh, Ukrainian, Belarusian, Serbian, Macedonian
TATAR_LATIN = "äñ"  # Zamanälif letters that English and Turkish lack
TATAR_PRIOR = 0.1  # nats/n-gram: a Tatar corpus is mostly Tatar, so doubt favours Tatar
_WORD = re.compile(r"[^\W\d_]+")
_NON_LETTER = re.compile(r"[\W\d_]")
_NON_CYRILLIC = re.compile(r"[^\u0400-\u04ff]")
_LATIN = re.compile(r"[a-zäñöüğışç]")
_TATAR_LATIN_SET = set(TATAR_LATIN)
_BASHKIR_SET = set(BASHKIR_ONLY)
_OTHER_CYR_SET = set(OTHER_CYRILLIC)


def labelled_files(root: os.PathLike | str) -> dict[str, list[pathlib.Path]]:
  """The labelled mix: Tatar train and eval text, Russian / Bashkir / English NTREX."""
  root = pathlib.Path(root)
  other = root / "other_languages"
  return {
      "tat": sorted((root / "tatar" / "train").glob("*.txt")),
      "tat_eval": [root / "tatar" / "eval" / "flores200" / "tat_Cyrl.dev"],
      "rus": [other / "ntrex128.rus.txt"],
      "bak": [other / "ntrex128.bak.txt"],
      "eng": [other / "ntrex128.eng.txt"],
  }


def _read(paths: Iterable[pathlib.Path]) -> list[str]:
  out = []
  for p in paths:
    if not p.is_file():
      raise DataError(f"labelled file {str(p)!r} does not exist (the labelled mix is "
                      "development data: give --mix_dir)")
    with open(p, encoding="utf-8") as f:
      out.extend(n for n in (normalize_line(line) for line in f) if n)
  return out


MAX_CHARS = 400  # language ID looks at a line's first 400 characters: plenty, and bounded


def ngrams(text: str) -> list[str]:
  """Character 1-3-grams of the lower-cased words, with spaces marking word edges."""
  words = _WORD.findall(text[:MAX_CHARS].lower())
  padded = " " + " ".join(words) + " "
  grams = list("".join(words))  # unigrams: letters only (a lone space says nothing)
  for n in ORDERS[1:]:
    grams.extend([padded[i:i + n] for i in range(len(padded) - n + 1)])
  return grams


class _Index(dict):
  """n-gram -> row; unknown n-grams map to the last (all-zero) row."""

  def __missing__(self, key: str) -> int:
    return len(self)


class LangId:
  """Letter rules, then naive Bayes over n-grams; `predict` returns a language code."""

  def __init__(self, logp: dict[str, list[float]], floor: list[float],
               margin: float = -TATAR_PRIOR):
    self.logp = logp  # n-gram -> log P(gram | lang) for each of LANGS
    self.floor = floor  # log-probability of an n-gram a language never showed
    self.margin = margin  # Tatar wins unless another language beats it by -margin
    self.index = _Index((g, i) for i, g in enumerate(logp))
    # One row per n-gram plus a zero row for n-grams outside the model.
    self.matrix = np.zeros((len(logp) + 1, len(LANGS)), np.float32)
    if logp:
      self.matrix[:-1] = np.array(list(logp.values()), np.float32)

  @classmethod
  def train(cls, texts: dict[str, Sequence[str]], top: int = TOP_NGRAMS) -> "LangId":
    counts = {lang: collections.Counter() for lang in LANGS}
    for lang in LANGS:
      for t in texts[lang]:
        counts[lang].update(ngrams(t))
    vocab: set[str] = set()
    for lang in LANGS:
      for n in ORDERS:
        ranked = [g for g, _ in counts[lang].most_common() if len(g) == n]
        vocab.update(ranked[:top])
    vocab_sorted = sorted(vocab)
    logp, floor = {g: [] for g in vocab_sorted}, []
    for lang in LANGS:
      total = sum(counts[lang][g] for g in vocab_sorted) + len(vocab_sorted)
      for g in vocab_sorted:
        logp[g].append(round(math.log((counts[lang][g] + 1) / total), 3))
      floor.append(round(math.log(1 / total), 3))
    return cls(logp, floor)

  def save(self, path: os.PathLike | str = MODEL_PATH) -> None:
    atomic_write_text(path, json.dumps({"langs": LANGS, "floor": self.floor, "logp": self.logp},
                                       ensure_ascii=False, sort_keys=True, separators=(",", ":")))

  @classmethod
  def load(cls, path: os.PathLike | str = MODEL_PATH) -> "LangId":
    try:
      with open(path, encoding="utf-8") as f:
        d = json.load(f)
    except (OSError, ValueError) as e:
      raise DataError(f"cannot read the language-ID model {str(path)!r}: {e}") from e
    if tuple(d.get("langs", ())) != LANGS:
      raise DataError(f"language-ID model {str(path)!r} is for {d.get('langs')}, not {LANGS}")
    return cls(d["logp"], d["floor"])

  def scores(self, text: str) -> np.ndarray:
    """Mean log-probability per known n-gram for each of LANGS."""
    return self.scores_batch([text])[0]

  def scores_batch(self, texts: Sequence[str]) -> np.ndarray:
    """[N, len(LANGS)] mean log-probabilities (one vectorised sum for the whole batch)."""
    unknown = len(self.index)
    get = self.index.get
    idx, bounds = [], [0]
    for t in texts:
      grams = ngrams(t)
      idx.extend(map(get, grams, itertools.repeat(unknown, len(grams))))
      idx.append(unknown)  # every line has >= 1 entry, for reduceat
      bounds.append(len(idx))
    idx_a = np.array(idx, np.int64)
    sums = np.add.reduceat(self.matrix[idx_a], bounds[:-1], axis=0)
    known = np.add.reduceat((idx_a != unknown).astype(np.float32), bounds[:-1])
    return sums / np.maximum(known, 1)[:, None]

  def predict(self, text: str) -> str:
    return self.predict_batch([text])[0]

  def predict_batch(self, texts: Sequence[str]) -> list[str]:
    out: list[str | None] = []
    need: list[int] = []  # lines the rules leave to the n-gram model
    latin: list[bool] = []
    for i, text in enumerate(texts):
      lab, lat = self._rules(text)
      out.append(lab)
      if lab is None:
        need.append(i)
        latin.append(lat)
    if need:
      s = self.scores_batch([texts[i] for i in need])
      for j, i in enumerate(need):
        out[i] = self._decide(s[j], latin[j])
    return out  # type: ignore[return-value]

  def _rules(self, text: str) -> tuple[str | None, bool]:
    """(label, None) when a letter rule decides, else (None, is_latin)."""
    low = text.lower()
    # Counting the (few) characters outside a class is cheaper than listing those inside.
    n_letters = len(low) - len(_NON_LETTER.findall(low))
    if not n_letters:
      return OTHER, False
    chars = set(low)
    n_cyr = len(low) - len(_NON_CYRILLIC.findall(low))
    if n_cyr < 0.5 * n_letters:
      if len(_LATIN.findall(low)) < 0.5 * n_letters:
        return OTHER, False  # Arabic script, Greek, ...
      if chars & _TATAR_LATIN_SET or ("ı" in chars and "q" in chars):
        return "tat_latn", False  # Tatar in Latin script (Zamanälif / Yañalif)
      return None, True
    if chars & _BASHKIR_SET and "җ" not in chars:
      return "bak", False
    if chars & _OTHER_CYR_SET:
      return OTHER, False
    return None, False

  def _decide(self, s: np.ndarray, latin: bool) -> str:
    if latin:
      return "eng" if int(np.argmax(s)) == LANGS.index("eng") else OTHER
    best_other = int(np.argmax(s[1:])) + 1
    return "tat" if s[0] - s[best_other] > self.margin else LANGS[best_other]

  def is_tatar(self, text: str) -> bool:
    return self.predict(text) == "tat"


_DEFAULT: LangId | None = None


def default_model() -> LangId:
  global _DEFAULT
  if _DEFAULT is None:
    _DEFAULT = LangId.load()
  return _DEFAULT


def split_half(texts: Sequence[str], train: bool) -> list[str]:
  return [t for t in texts if (doc_hash_fraction(t) < TRAIN_FRACTION) == train]


def _n_words(text: str) -> int:
  return len(_WORD.findall(text))


def evaluate(model: LangId, root: os.PathLike | str,
             min_words: Sequence[int] = (1, 5), tatar: tuple[str, ...] = ("tat", "tat_latn")
             ) -> list[dict]:
  """Tatar precision / recall on the held-out halves (+ FLORES dev), per min. word count.

  Positives: the test half of tatar/train plus FLORES dev; negatives: the test halves of
  the Russian, Bashkir and English NTREX files. A prediction counts as Tatar when it is in
  `tatar` (by default Cyrillic or Latin script; the cleaner keeps only Cyrillic).
  """
  files = labelled_files(root)
  held = {lang: split_half(_read(files[lang]), train=False) for lang in LANGS}
  held["tat"] += _read(files["tat_eval"])
  pred = {lang: [("tat" if p in tatar else "no", _n_words(t))
                 for p, t in zip(model.predict_batch(held[lang]), held[lang])]
          for lang in LANGS}
  rows = []
  for k in min_words:
    tp = sum(1 for p, n in pred["tat"] if n >= k and p == "tat")
    pos = sum(1 for _, n in pred["tat"] if n >= k)
    fp_by = {lang: sum(1 for p, n in pred[lang] if n >= k and p == "tat") for lang in LANGS[1:]}
    neg = {lang: sum(1 for _, n in pred[lang] if n >= k) for lang in LANGS[1:]}
    fp = sum(fp_by.values())
    rows.append({"min_words": k, "tatar": pos, "non_tatar": sum(neg.values()),
                 "tp": tp, "fp": fp, "fn": pos - tp,
                 "precision": tp / max(tp + fp, 1), "recall": tp / max(pos, 1),
                 **{f"fp_{lang}": fp_by[lang] for lang in fp_by},
                 **{f"n_{lang}": neg[lang] for lang in neg}})
  return rows


def train_default(root: os.PathLike | str) -> LangId:
  files = labelled_files(root)
  return LangId.train({lang: split_half(_read(files[lang]), train=True) for lang in LANGS})


def format_table(rows: Sequence[dict]) -> str:
  lines = ["| sentences | Tatar | non-Tatar (rus/bak/eng) | precision | recall | false pos. rus/bak/eng | missed Tatar |",
           "|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| ≥ {r['min_words']} words | {r['tatar']} | {r['non_tatar']} "
                 f"({r['n_rus']}/{r['n_bak']}/{r['n_eng']}) | {r['precision']:.4f} | "
                 f"{r['recall']:.4f} | {r['fp_rus']}/{r['fp_bak']}/{r['fp_eng']} | {r['fn']} |")
  return "\n".join(lines)
