"""A multi-turn conversation over the KV-cached decoder (llmjax.model.decode.stream).

Each reply is generated token by token from BOS + the conversation so far + the assistant's
role piece, shown as it grows, and ends at the end-of-turn piece (or at any other chat piece:
a model that starts writing the user's turn has ended its own), or when the token budget
runs out. The prompt and the reply together stay within the model's window: the oldest
user / assistant exchanges are forgotten first (the system message stays), keeping room for
an answer of max_new_tokens (at most a quarter of the window; `fit`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Sequence

import jax

from llmjax.config import ModelConfig
from llmjax.errors import DataError
from llmjax.model import decode
from llmjax.sft import template
from llmjax.sft.template import ChatTokens, Message

Stream = Callable[..., Iterator[int]]  # llmjax.model.decode.stream's signature


@dataclasses.dataclass(frozen=True)
class Reply:
  text: str
  tokens: int  # generated, the stop piece included
  stop: str  # "end" (end-of-turn), "piece" (another chat piece), or "length"
  forgotten: int  # earlier exchanges left out to fit the window


def fit(tokenizer, system: Sequence[Message], history: Sequence[Message], user: Message,
        window: int, max_new_tokens: int, reserve: int | None = None
        ) -> tuple[list[int], int, int]:
  """(prompt ids, new-token budget, exchanges forgotten). The oldest exchanges are left out
  until at least `reserve` tokens are left for the answer (default: max_new_tokens, but at
  most a quarter of the window, so a long budget does not erase a short conversation); the
  budget is what is left, up to max_new_tokens. DataError when even the new message alone
  leaves no room."""
  if reserve is None:
    reserve = min(max_new_tokens, max(16, window // 4))
  history = list(history)
  forgotten = 0
  while True:
    ids = template.prompt(tokenizer, [*system, *history, user])
    if len(ids) + reserve <= window or not history:
      break
    history = history[2:]  # one user / assistant exchange
    forgotten += 1
  budget = min(max_new_tokens, window - len(ids))
  if budget < 1:
    raise DataError(f"this message is {len(ids)} tokens with the chat pieces (and the "
                    f"system message); the model's window is {window} tokens: say it "
                    "shorter")
  return ids, budget, forgotten


@dataclasses.dataclass
class Chat:
  """One conversation with a model; `say` answers and remembers."""
  params: Any
  cfg: ModelConfig
  tokenizer: Any
  sampling: decode.Sampling = decode.GREEDY
  max_new_tokens: int = 128
  system: str = ""
  seed: int = 0
  stream: Stream = decode.stream
  history: list[Message] = dataclasses.field(default_factory=list)

  def __post_init__(self):
    self.chat = ChatTokens.of(self.tokenizer)
    self.turns = 0

  def reset(self) -> None:
    self.history.clear()

  def say(self, text: str, show: Callable[[str], None] = lambda s: None) -> Reply:
    """The model's answer to `text`; `show` receives the answer's text as it grows (whole
    characters only: a byte-fallback character waits for its last byte)."""
    user = {"role": "user", "content": text}
    template.check([user], for_training=False)
    system = [{"role": "system", "content": self.system}] if self.system else []
    ids, budget, forgotten = fit(self.tokenizer, system, self.history, user,
                                 self.cfg.max_seq_len, self.max_new_tokens)
    if forgotten:
      self.history = self.history[2 * forgotten:]
    rng = jax.random.fold_in(jax.random.key(self.seed), self.turns)
    out, shown, stop = [], "", "length"
    for tok in self.stream(self.params, self.cfg, ids, max_new_tokens=budget, rng=rng,
                           sampling=self.sampling, stop_ids=tuple(self.chat.specials)):
      if tok in self.chat.specials:
        stop = "end" if tok == self.chat.end else "piece"
        break
      out.append(tok)
      grown = self.tokenizer.decode(out)
      if not grown.endswith("\ufffd"):
        show(grown[len(shown):])
        shown = grown
    answer = self.tokenizer.decode(out)
    if answer[len(shown):]:
      show(answer[len(shown):])
    self.turns += 1
    # An empty answer is kept as one space: a turn's content is never empty.
    self.history += [user, {"role": "assistant", "content": answer or " "}]
    return Reply(answer, len(out) + (stop != "length"), stop, forgotten)
