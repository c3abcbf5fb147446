"""The training loop's answer probe (finetune.probe_every): are answers taking shape?

A few held-out conversations answered greedily by the current parameters (llmjax.sft
.answers): logged as probe_format_rate, probe_stop_rate and probe_chrf.
"""

from __future__ import annotations

from llmjax.sft import answers, data
from llmjax.training.loop import EvalContext


class AnswerProbe:
  """An evaluator for llmjax.training.loop.Evaluators.periodic."""

  def __init__(self, path: str, conversations: int, system: str = ""):
    self.path, self.n, self.system = path, conversations, system
    self._conversations = None

  def __call__(self, ctx: EvalContext) -> dict[str, float]:
    if self._conversations is None:
      self._conversations = data.with_system(data.read_conversations(self.path)[:self.n],
                                             self.system)
    found = answers.answer(ctx.params, ctx.model.model_cfg, ctx.data.tokenizer,
                           self._conversations)
    summary = answers.summarize(found)
    return {"probe_format_rate": summary["format_rate"],
            "probe_stop_rate": summary["stop_rate"], "probe_chrf": summary["chrf"]}
