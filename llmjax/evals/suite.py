"""The evaluation suite: run any of the benchmarks on one restored checkpoint.

  python -m llmjax.evaluate --workdir=runs/tatar_small --suite=all --output=runs/eval.json

Benchmarks (names for --suite): bpc (FLORES dev bits/char and second-half bits,
llmjax.evals.bpc), tatblimp, qa (the paraphrase-consistency benchmark), sib (SIB-200 k-shot),
tumlu (5-shot), generation (is the generated text Tatar? llmjax.evals.generation). The
`FewShotProbe` (QA sample + TatBLiMP sample + bits/char on a few FLORES lines) is what the
training loop runs every train.fewshot_every steps.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any

import numpy as np

from llmjax import model as model_lib
from llmjax import paths
from llmjax.corpus.mix import training_text
from llmjax.corpus.text import read_lines, split_documents
from llmjax.errors import ConfigError
from llmjax.evals import blimp, bpc, generation, qa, sib, tumlu
from llmjax.evals.common import sample
from llmjax.evals.loglik import ModelScorer
from llmjax.training.loop import EvalContext
from llmjax.training.restore import Restored

ALL = ("bpc", "tatblimp", "qa", "sib", "tumlu", "generation")


@dataclasses.dataclass(frozen=True)
class SuiteOptions:
  """Benchmark files ('' = the evaluation folder's, llmjax.paths) and sample sizes."""
  flores: str = ""
  tatblimp: str = ""
  tatblimp_limit: int = 0  # 0 = all pairs
  qa_file: str = str(qa.DEFAULT_PATH)
  qa_greedy: int = 12  # facts whose question prompts are answered by greedy generation
  greedy_tokens: int = 10
  sib_dir: str = ""
  sib_k: int = 3
  tumlu_dir: str = ""
  tumlu_per_subject: int = 0  # 0 = every test question
  batch_size: int = 32


def parse_names(spec: str) -> list[str]:
  names = list(ALL) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
  unknown = [n for n in names if n not in ALL]
  if unknown or not names:
    raise ConfigError(f"--suite={spec!r}: choose 'all' or a comma list of {', '.join(ALL)}")
  return names


def describe_model(restored: Restored) -> dict[str, Any]:
  cfg = restored.cfg
  counts = model_lib.count_params(restored.params)
  return {"name": cfg.name, "step": restored.step, "params": int(counts["total"]),
          "d_model": cfg.model.d_model, "n_layers": cfg.model.n_layers,
          "n_heads": cfg.model.n_heads, "d_ff": cfg.model.d_ff,
          "vocab_size": cfg.model.vocab_size, "max_seq_len": cfg.model.max_seq_len,
          "seq_len": cfg.data.seq_len, "batch_size": cfg.data.batch_size,
          "total_steps": cfg.train.total_steps,
          "tokens_seen": restored.step * cfg.data.batch_size * cfg.data.seq_len,
          "text_dir": cfg.data.text_dir}


def run(restored: Restored, names: list[str], opts: SuiteOptions = SuiteOptions()
        ) -> dict[str, Any]:
  """One result dict: the model description, then one entry per benchmark."""
  scorer = ModelScorer(restored.model, restored.params, restored.tokenizer, opts.batch_size)
  result: dict[str, Any] = {"model": describe_model(restored), "seconds": {}}
  for name in names:
    start = time.perf_counter()
    if name == "bpc":
      flores = opts.flores or paths.require_eval(paths.FLORES_DEV)
      result["bpc"] = bpc.score_file(restored, pathlib.Path(flores))
    elif name == "tatblimp":
      result["tatblimp"] = blimp.score(scorer, blimp.load_pairs(opts.tatblimp or None,
                                                                opts.tatblimp_limit))
    elif name == "qa":
      gen = lambda ps: scorer.greedy(ps, opts.greedy_tokens)
      result["qa"] = qa.score(scorer, qa.load(opts.qa_file), gen, opts.qa_greedy)
    elif name == "sib":
      result["sib"] = sib.score(scorer, sib.read_split(opts.sib_dir or None, "train"),
                                sib.read_split(opts.sib_dir or None, "test"), k=opts.sib_k)
    elif name == "tumlu":
      result["tumlu"] = tumlu.score(scorer, tumlu.read(opts.tumlu_dir or None),
                                    per_subject=opts.tumlu_per_subject)
    elif name == "generation":
      flores = read_lines(opts.flores or paths.require_eval(paths.FLORES_DEV))
      data_cfg = restored.cfg.data
      train_docs = split_documents(training_text(data_cfg).docs, data_cfg.val_fraction)[0]
      result["generation"] = generation.score(restored, flores, train_docs)
    result["seconds"][name] = round(time.perf_counter() - start, 1)
  return result


class FewShotProbe:
  """The fast subset the training loop runs (an Evaluator): fixed samples chosen once,
  scored with the current parameters each time. Benchmarks whose files are missing (no
  evaluation folder) drop their part; the QA sample ships with llmjax."""

  def __init__(self, qa_facts: int = 24, blimp_pairs: int = 128, flores_lines: int = 64,
               seed: int = 0):
    self.qa_facts = sample(qa.load(), qa_facts, seed)
    blimp_path = paths.eval_path(blimp.RELATIVE)
    self.blimp_pairs = blimp.load_pairs(blimp_path, limit=blimp_pairs, seed=seed) \
        if blimp_pairs and blimp_path.is_file() else []
    flores_path = paths.eval_path(paths.FLORES_DEV)
    self.flores_lines = sample(read_lines(flores_path), flores_lines, seed) \
        if flores_lines and flores_path.is_file() else []
    self._scorer: ModelScorer | None = None

  def __call__(self, ctx: EvalContext) -> dict[str, float]:
    if self._scorer is None or self._scorer.model is not ctx.model:
      self._scorer = ModelScorer(ctx.model, ctx.params, ctx.data.tokenizer)  # jit once
      fits = self._scorer.fits  # a short-context model skips what it cannot score whole
      self.blimp_pairs = [p for p in self.blimp_pairs if fits(p["good"]) and fits(p["bad"])]
      self.flores_lines = [line for line in self.flores_lines if fits(line)]
    scorer = self._scorer
    scorer.params = ctx.params
    out: dict[str, float] = {}
    q = qa.score(scorer, self.qa_facts)["modes"]["per_char"]
    out.update({f"fewshot_qa_{k}": v for k, v in q.items()})
    if self.blimp_pairs:
      out["fewshot_tatblimp_accuracy"] = blimp.score(scorer, self.blimp_pairs)["accuracy"]
    if self.flores_lines:
      out["fewshot_flores_bits_per_char"] = bpc.score_lines(
          ctx.model, ctx.params, ctx.data.tokenizer, self.flores_lines,
          ctx.data.val.seq_len, ctx.batch_size)["bits_per_char"]
    return {k: float(np.float64(v)) for k, v in out.items()}


class FloresProbe:
  """FLORES dev during training (an Evaluator): bits/char of every sentence and Goldfish's
  second-half bits, logged as flores_bits_per_char and flores_second_half_bits."""

  def __init__(self, path: str | pathlib.Path | None = None):
    self.lines = read_lines(path or paths.require_eval(paths.FLORES_DEV))
    self._scorer: ModelScorer | None = None

  def __call__(self, ctx: EvalContext) -> dict[str, float]:
    if self._scorer is None or self._scorer.model is not ctx.model:
      self._scorer = ModelScorer(ctx.model, ctx.params, ctx.data.tokenizer, ctx.batch_size)
    self._scorer.params = ctx.params
    bpc_result = bpc.score_lines(ctx.model, ctx.params, ctx.data.tokenizer, self.lines,
                                 ctx.data.val.seq_len, ctx.batch_size)
    halves = bpc.second_half_bits(self._scorer, ctx.data.tokenizer, self.lines)
    return {"flores_bits_per_char": float(bpc_result["bits_per_char"]),
            "flores_second_half_bits": float(halves["second_half_bits"])}
