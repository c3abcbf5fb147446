"""A Tatar SFT set from the explanatory dictionary of the training split, and its leak check.

Each dictionary line is `Headword -[labels.]Definition [examples]`. An entry becomes a
question about the headword in one of several phrasings ("«X» сүзе нәрсә аңлата?", ...)
answered with the definition's first sense (labels, sense numbers, bracketed examples and
run-in sub-entries removed, at most max_answer_chars characters, cut at a word). Entries
whose definition is a bare cross-reference or a single word are skipped.

Splits are by headword (a hash of it, so they never depend on the file's order or on the
other entries): 90% train, 5% validation (the training loop's validation loss and best
checkpoint), 5% test. Phrasings are split too: TEST_PHRASINGS never occur in training.
  train.jsonl           train headwords, training phrasings (some conversations have two
                        exchanges, some a system message)
  val.jsonl             validation headwords, training phrasings
  test_headwords.jsonl  test headwords, training phrasings: new words, known questions
  test_phrasings.jsonl  test headwords, held-out phrasings: new words, new questions
Nothing is read from the evaluation sets except by `leak_check`, which makes sure none of
their text occurs in the SFT set and none of the SFT answers in them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pathlib
import random
import re
from typing import Any, Iterable, Sequence

from llmjax.corpus.text import iter_lines
from llmjax.sft.template import Message

FILENAME = "explanatory_dictionary.txt"
TRAIN_PHRASINGS = (
    "«{w}» сүзе нәрсә аңлата?",
    "{w} дигән сүзнең мәгънәсен аңлат.",
    "«{w}» нәрсә ул?",
    "«{w}» сүзенең мәгънәсе нинди?",
    "«{w}» сүзен аңлатып бир.",
    "Ни ул «{w}»?",
)
TEST_PHRASINGS = (
    "«{w}» сүзенә аңлатма бирегез.",
    "{w} нәрсәне белдерә?",
)
SYSTEM = "Син — татар теленең аңлатмалы сүзлеге буенча ярдәмче."
SPLITS = ("train", "val", "test_headwords", "test_phrasings")

_ENTRY = re.compile(r"^(?P<head>\S.*?) -(?P<rest>\S.*)$")
_LABELS = re.compile(r"^(?:[IVX]+\.|\d+\.|[а-яәөүҗңһ]{1,9}\.\s?)+")
# Where the first sense ends: a sense number, an example, a homonym, a cross-reference, a
# run-in sub-entry in capitals, or a label glued to the next sense ("и.Шундый кеше").
_CUT = re.compile(r"\s\d+\.|\d\.\S|\[|\s[IVX]+\.|/|[А-ЯӘӨҮҖҢҺ]{2,}[\s,-]"
                  r"|\s[а-яәөүҗңһ]{1,4}\.[А-ЯӘӨҮҖҢҺ]")
_WORD = re.compile(r"^[А-ЯӘӨҮҖҢҺЁа-яәөүҗңһё][а-яәөүҗңһё-]+$")


def definition(rest: str, max_chars: int) -> str | None:
  """The first sense of an entry's definition part, or None when there is none worth
  asking about."""
  text = _LABELS.sub("", rest.strip())
  cut = _CUT.search(text)
  text = (text[:cut.start()] if cut else text).strip(" .;,:-")
  if len(text) > max_chars:
    text = text[:max_chars].rsplit(" ", 1)[0].rstrip(" ,;:-(")
  if (len(text.split()) < 2 or len(text) < 12 or not text[0].isupper()
      or text.count("(") != text.count(")")):
    return None
  return text + "."


def headword(head: str) -> str | None:
  """The first spelling of a headword, lower-cased (dictionary headwords are capitalised);
  None for phrases, abbreviations and anything not a plain word."""
  word = head.split(" - ")[0].strip()
  if not _WORD.match(word) or word.isupper():
    return None
  return word[0].lower() + word[1:]


def entries(path: str | pathlib.Path, max_chars: int = 160) -> list[tuple[str, str, int]]:
  """(headword, definition, line number) of every usable entry, first sense of the first
  entry per headword."""
  seen, out = set(), []
  for lineno, line in enumerate(iter_lines(path), 1):
    m = _ENTRY.match(line)
    if not m:
      continue
    word, text = headword(m["head"]), definition(m["rest"], max_chars)
    if word and text and word not in seen:
      seen.add(word)
      out.append((word, text, lineno))
  return out


def split_of(word: str) -> str:
  """train / val / test by a hash of the headword."""
  bucket = int(hashlib.sha256(word.encode("utf-8")).hexdigest()[:8], 16) % 100
  return "train" if bucket < 90 else "val" if bucket < 95 else "test"


def _exchange(word: str, text: str, phrasings: Sequence[str], rng: random.Random
              ) -> list[Message]:
  question = rng.choice(phrasings).format(w=word)
  question = question[0].upper() + question[1:]
  return [{"role": "user", "content": question}, {"role": "assistant", "content": text}]


def build(items: Sequence[tuple[str, str, int]], seed: int = 0
          ) -> dict[str, list[list[Message]]]:
  """The four splits' conversations (see the module docstring)."""
  rng = random.Random(seed)
  by_split: dict[str, list[tuple[str, str, int]]] = {"train": [], "val": [], "test": []}
  for item in items:
    by_split[split_of(item[0])].append(item)
  train = by_split["train"][:]
  rng.shuffle(train)
  out: dict[str, list[list[Message]]] = {s: [] for s in SPLITS}
  i = 0
  while i < len(train):
    conv = _exchange(*train[i][:2], TRAIN_PHRASINGS, rng)
    i += 1
    if rng.random() < 0.15 and i < len(train):  # a second question in the same chat
      conv += _exchange(*train[i][:2], TRAIN_PHRASINGS, rng)
      i += 1
    if rng.random() < 0.1:
      conv = [{"role": "system", "content": SYSTEM}, *conv]
    out["train"].append(conv)
  out["val"] = [_exchange(w, t, TRAIN_PHRASINGS, rng) for w, t, _ in by_split["val"]]
  out["test_headwords"] = [_exchange(w, t, TRAIN_PHRASINGS, rng)
                           for w, t, _ in by_split["test"]]
  out["test_phrasings"] = [_exchange(w, t, TEST_PHRASINGS, rng)
                           for w, t, _ in by_split["test"]]
  return out


# --- leak check -------------------------------------------------------------------------------


def normalize(s: str) -> str:
  """Lower case, single spaces, no punctuation at the ends (as the QA benchmark's check)."""
  return " ".join(s.lower().split()).strip(" .,;:!?—–-«»\"'")


def _strings(value: Any) -> Iterable[str]:
  if isinstance(value, str):
    yield value
  elif isinstance(value, dict):
    for v in value.values():
      yield from _strings(v)
  elif isinstance(value, list):
    for v in value:
      yield from _strings(v)


def eval_texts(root: str | pathlib.Path) -> list[str]:
  """Every piece of text in the evaluation sets: JSONL string values, CSV / TSV cells, the
  lines of other files (licences skipped)."""
  out = []
  for path in sorted(p for p in pathlib.Path(root).rglob("*") if p.is_file()):
    if path.name.upper().startswith("LICENSE"):
      continue
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".jsonl":
      for line in raw.splitlines():
        if line.strip():
          out.extend(_strings(json.loads(line)))
    elif path.suffix in (".tsv", ".csv"):
      rows = csv.reader(io.StringIO(raw), delimiter="\t" if path.suffix == ".tsv" else ",")
      out.extend(cell for row in rows for cell in row)
    else:
      out.extend(raw.splitlines())
  return [t for t in out if t.strip()]


def _trigrams(text: str) -> set[tuple[str, ...]]:
  words = text.split()
  return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def contained(needles: Iterable[str], haystack: Sequence[str], min_chars: int = 24
              ) -> list[str]:
  """The needles (normalised, of at least min_chars characters and three words) found
  verbatim inside the haystack's texts. Word trigrams pick the candidates; a substring
  search confirms them."""
  hay = [normalize(h) for h in haystack]
  index = set().union(*(_trigrams(h) for h in hay)) if hay else set()
  joined = "\n".join(hay)
  found = []
  for needle in {normalize(n) for n in needles}:
    grams = _trigrams(needle)
    if len(needle) >= min_chars and grams and grams <= index and needle in joined:
      found.append(needle)
  return sorted(found)


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
  words = normalize(text).split()
  return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def leak_check(splits: dict[str, list[list[Message]]], eval_root: str | pathlib.Path,
               ngram: int = 8) -> dict[str, Any]:
  """Evaluation text found verbatim in the SFT set, and SFT answers found verbatim in the
  evaluation sets (both must be none); shared word n-grams (informational)."""
  texts = eval_texts(eval_root)
  contents = [m["content"] for convs in splits.values() for c in convs for m in c]
  answers = [m["content"] for convs in splits.values() for c in convs for m in c
             if m["role"] == "assistant"]
  eval_in_sft = contained(texts, contents)
  sft_in_eval = contained(answers, texts)
  eval_grams = set().union(*(_ngrams(t, ngram) for t in texts))
  shared = sorted({" ".join(g) for a in answers for g in _ngrams(a, ngram) & eval_grams})
  return {"eval_dir": str(eval_root), "eval_texts": len(texts), "sft_messages": len(contents),
          "eval_text_in_sft": len(eval_in_sft), "eval_text_in_sft_examples": eval_in_sft[:5],
          "sft_answers_in_eval": len(sft_in_eval),
          "sft_answers_in_eval_examples": sft_in_eval[:5],
          f"shared_{ngram}grams": len(shared), f"shared_{ngram}grams_examples": shared[:5]}


def leaked(result: dict[str, Any]) -> bool:
  return bool(result["eval_text_in_sft"] or result["sft_answers_in_eval"])
