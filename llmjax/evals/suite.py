"""The evaluation suite: run any of the benchmarks on one loaded checkpoint.

  python -m llmjax.evaluate --workdir=runs/tatar_small --suite=all \
      --output=reports/eval/trained.json

Benchmarks (names for --suite): bpc (FLORES dev bits/char, llmjax.scoring), tatblimp, qa
(the paraphrase-consistency benchmark), sib (SIB-200 k-shot), tumlu (5-shot). The
`fewshot` subset (QA sample + TatBLiMP sample + bits/char on a few FLORES lines) is what the
training loop runs every train.fewshot_every steps.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from llmjax import model as model_lib
from llmjax.data import text
from llmjax.errors import ConfigError
from llmjax.evals import blimp, bpc, qa, sib, tumlu
from llmjax.evals.common import SHARED_EVAL, sample
from llmjax.evals.loglik import ModelScorer

ALL = ("bpc", "tatblimp", "qa", "sib", "tumlu")
FLORES_DEV = SHARED_EVAL / "flores200" / "tat_Cyrl.dev"


@dataclasses.dataclass(frozen=True)
class SuiteOptions:
  flores: str = str(FLORES_DEV)
  tatblimp: str = str(blimp.DEFAULT_PATH)
  tatblimp_limit: int = 0  # 0 = all pairs
  qa_file: str = str(qa.DEFAULT_PATH)
  qa_greedy: int = 12  # facts whose question prompts are answered by greedy generation
  greedy_tokens: int = 10
  sib_dir: str = str(sib.DEFAULT_DIR)
  sib_k: int = 3
  tumlu_dir: str = str(tumlu.DEFAULT_DIR)
  tumlu_per_subject: int = 0  # 0 = every test question
  batch_size: int = 32


def parse_names(spec: str) -> list[str]:
  names = list(ALL) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
  unknown = [n for n in names if n not in ALL]
  if unknown or not names:
    raise ConfigError(f"--suite={spec!r}: choose 'all' or a comma list of {', '.join(ALL)}")
  return names


def describe_model(loaded) -> dict[str, Any]:
  cfg = loaded.cfg
  counts = model_lib.count_params(loaded.params)
  return {"name": cfg.name, "step": loaded.step, "params": int(counts["total"]),
          "d_model": cfg.model.d_model, "n_layers": cfg.model.n_layers,
          "n_heads": cfg.model.n_heads, "d_ff": cfg.model.d_ff,
          "vocab_size": cfg.model.vocab_size, "max_seq_len": cfg.model.max_seq_len,
          "seq_len": cfg.data.seq_len, "batch_size": cfg.data.batch_size,
          "total_steps": cfg.train.total_steps,
          "tokens_seen": loaded.step * cfg.data.batch_size * cfg.data.seq_len,
          "text_dir": cfg.data.text_dir}


def run(loaded, names: list[str], opts: SuiteOptions = SuiteOptions(),
        file_scorer: Callable | None = None) -> dict[str, Any]:
  """One result dict: the model description, then one entry per benchmark. `file_scorer`
  is llmjax.evaluate.evaluate_file (passed in by that CLI, imported otherwise)."""
  if file_scorer is None and "bpc" in names:
    from llmjax.evaluate import evaluate_file as file_scorer
  scorer = ModelScorer(loaded.trainer, loaded.params, loaded.tokenizer, opts.batch_size)
  result: dict[str, Any] = {"model": describe_model(loaded), "seconds": {}}
  for name in names:
    start = time.perf_counter()
    if name == "bpc":
      result["bpc"] = file_scorer(loaded, pathlib.Path(opts.flores))
    elif name == "tatblimp":
      result["tatblimp"] = blimp.score(scorer, blimp.load_pairs(opts.tatblimp,
                                                                opts.tatblimp_limit))
    elif name == "qa":
      gen = lambda ps: scorer.greedy(ps, opts.greedy_tokens)
      result["qa"] = qa.score(scorer, qa.load(opts.qa_file), gen, opts.qa_greedy)
    elif name == "sib":
      result["sib"] = sib.score(scorer, sib.read_split(opts.sib_dir, "train"),
                                sib.read_split(opts.sib_dir, "test"), k=opts.sib_k)
    elif name == "tumlu":
      result["tumlu"] = tumlu.score(scorer, tumlu.read(opts.tumlu_dir),
                                    per_subject=opts.tumlu_per_subject)
    result["seconds"][name] = round(time.perf_counter() - start, 1)
  return result


@dataclasses.dataclass
class FewShotProbe:
  """The fast subset the training loop runs: fixed samples chosen once, scored with the
  current parameters each time. Missing benchmark files just drop their part."""

  qa_facts: list
  blimp_pairs: list
  flores_lines: list

  @classmethod
  def create(cls, qa_facts: int = 24, blimp_pairs: int = 128, flores_lines: int = 64,
             seed: int = 0) -> FewShotProbe:
    facts = sample(qa.load(), qa_facts, seed)
    pairs = blimp.load_pairs(limit=blimp_pairs, seed=seed) if blimp.DEFAULT_PATH.is_file() \
        else []
    lines = sample(text.read_lines(FLORES_DEV), flores_lines, seed) \
        if FLORES_DEV.is_file() else []
    return cls(facts, pairs, lines)

  _scorer: ModelScorer | None = None

  def __call__(self, trainer, params, tokenizer, batch_size: int = 32) -> dict[str, float]:
    if self._scorer is None or self._scorer.trainer is not trainer:
      self._scorer = ModelScorer(trainer, params, tokenizer, batch_size)  # jit once
      fits = self._scorer.fits  # a short-context model skips what it cannot score whole
      self.blimp_pairs = [p for p in self.blimp_pairs if fits(p["good"]) and fits(p["bad"])]
      self.flores_lines = [line for line in self.flores_lines if fits(line)]
    scorer = self._scorer
    scorer.params = params
    out: dict[str, float] = {}
    q = qa.score(scorer, self.qa_facts)["modes"]["per_char"]
    out.update({f"fewshot_qa_{k}": v for k, v in q.items()})
    if self.blimp_pairs:
      out["fewshot_tatblimp_accuracy"] = blimp.score(scorer, self.blimp_pairs)["accuracy"]
    if self.flores_lines:
      out["fewshot_flores_bits_per_char"] = bpc.score(scorer, self.flores_lines)[
          "bits_per_char"]
    return {k: float(np.float64(v)) for k, v in out.items()}
