"""Stub log-likelihood functions and QA facts for the benchmark tests (no model)."""

from llmjax.evals.loglik import Score


def table_loglik(table):
  """A LoglikFn from {(context, continuation): logprob}; records the requests."""
  calls = []

  def fn(requests):
    calls.extend(requests)
    return [Score(table[(r.context, r.continuation)], 1, len(r.continuation)) for r in requests]
  fn.calls = calls
  return fn


def length_loglik(requests):
  """Shorter text = more likely: logprob = -len(continuation)."""
  return [Score(-float(len(r.continuation)), 1, len(r.continuation)) for r in requests]


def fact(fid, answer, n_prompts=4, n_cands=4, part="general", **extra):
  """A valid QA fact: candidates c0.., the first prompt a question, the rest clozes."""
  cands = [f"c{i}" for i in range(n_cands)]
  prompts = [{"kind": "question" if i == 0 else "cloze", "text": f"{fid} prompt {i} ___."}
             for i in range(n_prompts)]
  return {"id": fid, "part": part, "candidates": cands, "answer": answer, "prompts": prompts,
          **extra}
