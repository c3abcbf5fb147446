"""The paraphrase-consistency QA benchmark (llmjax/evals/data/tatar_qa.jsonl).

One record per fact:

  {"id": "onegin_author", "part": "general" | "corpus",
   "source": [{"file": "bible_nt_2025.txt", "line": 12}],   # corpus facts: where it is stated
   "candidates": ["Пушкин", "Тукай", "Толстой", "Җәлил"], "answer": 0,
   "prompts": [{"kind": "question", "text": "«Евгений Онегин» романын кем язган? ___."},
               {"kind": "cloze", "text": "«Евгений Онегин» романын ___ язган."},
               {"kind": "cloze", "text": "...", "fill": ["Пушкинның", ...]}]}

Every prompt holds one `___`; a candidate is scored as the continuation
`candidate + rest of the prompt` after the context `text before ___`, so the words after the
blank count too and every candidate of a prompt is scored on the same frame. `fill` gives
the candidates inflected for that phrasing (Tatar case forms), index-aligned with
`candidates`. Three ways to choose: `raw` (summed log-prob), `per_char` (divided by the
continuation's characters) and `pmi` (raw minus the same continuation's log-prob without the
context: removes the model's prior for frequent words, which could otherwise look
"consistent" without knowing anything). `prior` is a baseline, not a way to answer: the
choice by the continuation's per-character log-prob WITHOUT the question; a model that
knows the fact must beat it.

Metrics, each next to its chance level for a model that picks uniformly at random:
accuracy (per prompt), consistency (a fact's prompts all choose the same candidate) and
consistent-and-correct (all choose the right one).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Sequence

from llmjax.corpus.text import list_text_files, read_lines
from llmjax.errors import DataError
from llmjax.evals.common import argmax, read_jsonl, sample
from llmjax.evals.loglik import LoglikFn, Request

DEFAULT_PATH = pathlib.Path(__file__).resolve().parent / "data" / "tatar_qa.jsonl"
BLANK = "___"
MODES = ("raw", "per_char", "pmi", "prior")
MIN_PROMPTS, MIN_CANDIDATES = 4, 4


def validate(facts: Sequence[dict], where: str = "QA data") -> None:
  """DataError on the first malformed fact."""
  seen = set()
  for f in facts:
    fid = f.get("id")
    if not fid or fid in seen:
      raise DataError(f"{where}: fact ids must be unique and non-empty (got {fid!r})")
    seen.add(fid)
    cands, prompts = f.get("candidates", []), f.get("prompts", [])
    if len(cands) < MIN_CANDIDATES or len(set(cands)) != len(cands):
      raise DataError(f"{where}: fact {fid!r} needs >= {MIN_CANDIDATES} distinct candidates")
    if not 0 <= f.get("answer", -1) < len(cands):
      raise DataError(f"{where}: fact {fid!r} answer index out of range")
    if f.get("part") not in ("corpus", "general"):
      raise DataError(f"{where}: fact {fid!r} part must be 'corpus' or 'general'")
    if f["part"] == "corpus" and not f.get("source"):
      raise DataError(f"{where}: corpus fact {fid!r} needs a source (file and line)")
    if len(prompts) < MIN_PROMPTS or len({p["text"] for p in prompts}) != len(prompts):
      raise DataError(f"{where}: fact {fid!r} needs >= {MIN_PROMPTS} distinct prompts")
    for p in prompts:
      text = p.get("text", "")
      if text.count(BLANK) != 1 or not text.split(BLANK)[0].strip():
        raise DataError(f"{where}: fact {fid!r} prompt {text!r} needs one {BLANK} after "
                        "some context")
      if p.get("kind") not in ("question", "cloze"):
        raise DataError(f"{where}: fact {fid!r} prompt kind must be question or cloze")
      if len(p.get("fill", cands)) != len(cands):
        raise DataError(f"{where}: fact {fid!r} prompt {text!r} fill has "
                        f"{len(p['fill'])} forms for {len(cands)} candidates")


def load(path: str | pathlib.Path = DEFAULT_PATH) -> list[dict]:
  facts = read_jsonl(path)
  validate(facts, str(path))
  return facts


def prompt_requests(prompt: dict, candidates: Sequence[str]) -> list[tuple[Request, Request]]:
  """(in context, without context) Request pairs, one per candidate."""
  before, after = prompt["text"].split(BLANK)
  out = []
  for form in prompt.get("fill", candidates):
    cont = form + after
    out.append((Request(before, cont), Request("", cont)))
  return out


def chance_levels(facts: Sequence[dict]) -> dict[str, float]:
  """Expected metrics of a uniformly random chooser."""
  acc = con = cc = 0.0
  n_prompts = 0
  for f in facts:
    n, p = len(f["candidates"]), len(f["prompts"])
    acc += p / n
    n_prompts += p
    con += (1.0 / n) ** (p - 1)
    cc += (1.0 / n) ** p
  k = max(len(facts), 1)
  return {"accuracy": acc / max(n_prompts, 1), "consistency": con / k,
          "consistent_and_correct": cc / k}


def metrics(facts: Sequence[dict], choices: Sequence[Sequence[int]]) -> dict[str, float]:
  """accuracy / consistency / consistent_and_correct of choices[fact][prompt]."""
  right = [[c == f["answer"] for c in ch] for f, ch in zip(facts, choices)]
  n_prompts = sum(len(r) for r in right)
  k = max(len(facts), 1)
  return {"accuracy": sum(map(sum, right)) / max(n_prompts, 1),
          "consistency": sum(len(set(ch)) == 1 for ch in choices) / k,
          "consistent_and_correct": sum(all(r) for r in right) / k}


def choose(facts: Sequence[dict], loglik: LoglikFn) -> dict[str, list[list[int]]]:
  """choices[mode][fact][prompt] = chosen candidate index; one loglik call for all."""
  flat, index = [], []
  for f in facts:
    for p in f["prompts"]:
      index.append(len(flat))
      for with_ctx, without in prompt_requests(p, f["candidates"]):
        flat += [with_ctx, without]
  scores = loglik(flat)
  out: dict[str, list[list[int]]] = {m: [] for m in MODES}
  pos = 0
  for f in facts:
    for m in MODES:
      out[m].append([])
    for _ in f["prompts"]:
      n = len(f["candidates"])
      ctx = [scores[pos + 2 * j] for j in range(n)]
      bare = [scores[pos + 2 * j + 1] for j in range(n)]
      pos += 2 * n
      out["raw"][-1].append(argmax([s.logprob for s in ctx]))
      out["per_char"][-1].append(argmax([s.per_char for s in ctx]))
      out["pmi"][-1].append(argmax([c.logprob - b.logprob for c, b in zip(ctx, bare)]))
      out["prior"][-1].append(argmax([b.per_char for b in bare]))
  return out


def _normal(s: str) -> str:
  return re.sub(r"[^\w]+", " ", s.lower()).strip()


def greedy_answers(facts: Sequence[dict], generate: Callable[[Sequence[str]], list[str]],
                   n: int = 12, seed: int = 0) -> list[dict]:
  """Free generation for the question prompts of a sample of facts: does the text the
  model writes after the question start with (a form of) the right answer?"""
  rows = []
  for f in sample(facts, n, seed):
    for p in f["prompts"]:
      if p["kind"] == "question":
        forms = p.get("fill", f["candidates"])
        rows.append({"id": f["id"], "prompt": p["text"].split(BLANK)[0],
                     "expected": forms[f["answer"]]})
  texts = generate([r["prompt"] for r in rows]) if rows else []
  for r, t in zip(rows, texts):
    r["generated"] = t
    r["match"] = _normal(t).startswith(_normal(r["expected"])[:max(4, len(r["expected"]) - 3)])
  return rows


def score(loglik: LoglikFn, facts: Sequence[dict],
          generate: Callable[[Sequence[str]], list[str]] | None = None,
          greedy_sample: int = 12) -> dict:
  choices = choose(facts, loglik)
  result = {"facts": len(facts), "prompts": sum(len(f["prompts"]) for f in facts),
            "chance": chance_levels(facts),
            "modes": {m: metrics(facts, choices[m]) for m in MODES}, "by_part": {}}
  for part in ("corpus", "general"):
    idx = [i for i, f in enumerate(facts) if f["part"] == part]
    if idx:
      sub = [facts[i] for i in idx]
      result["by_part"][part] = {
          "facts": len(idx), "chance": chance_levels(sub),
          "modes": {m: metrics(sub, [choices[m][i] for i in idx]) for m in MODES}}
  result["per_fact"] = [{"id": f["id"], "part": f["part"], "answer": f["answer"],
                         **{m: choices[m][i] for m in MODES}} for i, f in enumerate(facts)]
  if generate is not None and greedy_sample:
    result["greedy"] = greedy_answers(facts, generate, greedy_sample)
  return result


# --- leak check ------------------------------------------------------------------------------


def filled_prompts(fact: dict) -> list[tuple[str, str]]:
  """(filled prompt, context before the blank) for every prompt of a fact."""
  out = []
  for p in fact["prompts"]:
    form = p.get("fill", fact["candidates"])[fact["answer"]]
    before, after = p["text"].split(BLANK)
    out.append((before + form + after, before.strip()))
  return out


def _norm(s: str) -> str:
  """Lower case, single spaces, no punctuation at the ends: a leak is a leak even when
  the corpus sentence goes on after it or starts with a capital letter."""
  return " ".join(s.lower().split()).strip(" .,;:!?—–-«»\"'")


def leak_check(facts: Sequence[dict], train_dir: str | pathlib.Path) -> dict:
  """Filled prompts (and prompt contexts) found verbatim in the training text; cited source
  lines that do not exist. See `python -m llmjax.evals.leakcheck`."""
  files = list_text_files(train_dir)
  corpus = "\n".join(" ".join(line.lower().split())
                     for path in files for line in read_lines(path))
  line_counts = {p.name: sum(1 for _ in p.open(encoding="utf-8")) for p in files}
  leaked, contexts, bad_sources = [], [], []
  for f in facts:
    for filled, before in filled_prompts(f):
      if _norm(filled) in corpus:
        leaked.append(filled)
      if len(before) >= 12 and _norm(before) in corpus:
        contexts.append(before)
    for s in f.get("source", []):
      if not 1 <= s["line"] <= line_counts.get(s["file"], 0):
        bad_sources.append(f"{f['id']}: {s['file']}:{s['line']}")
  return {"facts": len(facts), "prompts": sum(len(f["prompts"]) for f in facts),
          "filled_prompts_in_training_text": len(leaked), "leaked": leaked,
          "contexts_in_training_text": len(contexts), "contexts": contexts,
          "bad_sources": bad_sources, "train_files": len(files)}
