"""Stage 6, evaluation: is it learning, and does it speak Tatar?

bpc (the one bits/char and bits/byte), loglik (log-likelihood of continuations: the
interface every benchmark uses), blimp (TatBLiMP), qa (the paraphrase-consistency benchmark
and its leak check), sib (SIB-200), tumlu (TUMLU), suite (all of them on a checkpoint, and
the few-shot probe the training loop runs), markdown (the report).
Commands: python -m llmjax.evals.report | leakcheck
"""

from llmjax.config import Config
from llmjax.evals import bpc
from llmjax.evals.suite import FewShotProbe, FloresProbe
from llmjax.training.loop import Evaluators


def for_training(cfg: Config) -> Evaluators:
  """What the training loop evaluates: validation bits/char every train.eval_every steps,
  the few-shot probe every train.fewshot_every steps and FLORES dev every
  train.flores_every steps (each when > 0)."""
  t = cfg.train
  periodic = []
  if t.fewshot_every:
    probe = FewShotProbe(t.fewshot_qa_facts, t.fewshot_blimp_pairs, t.fewshot_flores_lines)
    periodic.append((t.fewshot_every, probe))
  if t.flores_every:
    periodic.append((t.flores_every, FloresProbe()))
  return Evaluators(validate=bpc.validation, periodic=tuple(periodic))
