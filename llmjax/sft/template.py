"""The conversation format, defined once: rendered text, token ids, the assistant loss mask.

A conversation is a list of messages {"role": "system" | "user" | "assistant", "content":
str} (the common JSONL convention): an optional system message first, then user and
assistant turns alternating, starting with the user. Each message is its role piece, its
content and the end-of-turn piece, with nothing in between:

  <|system|>You are ...<|end|><|user|>Question?<|end|><|assistant|>Answer.<|end|>

The pieces are single tokens of every llmjax tokenizer (llmjax.tokenizer.RESERVED_PIECES),
which pretraining text never contains. As token ids the conversation starts with BOS, like
every pretraining document. Training scores the assistant's content and its end-of-turn
token only (the loss mask): the model learns to answer and to stop, never to write the
user's side. A prompt for generation ends with the assistant's role piece.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

import numpy as np

from llmjax.errors import DataError

ROLES = ("system", "user", "assistant")
ROLE_PIECES = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END = "<|end|>"
PIECES = (*ROLE_PIECES.values(), END)
Message = dict[str, str]
_TURN = re.compile("(" + "|".join(re.escape(p) for p in ROLE_PIECES.values()) + ")(.*?)"
                   + re.escape(END), re.DOTALL)


def check(messages: Any, *, for_training: bool = True) -> list[Message]:
  """The messages as [{"role", "content"}] (other keys dropped), or DataError saying what is
  wrong. Training conversations need an assistant turn; a prompt ends with a user turn."""
  if not isinstance(messages, list) or not messages:
    raise DataError("'messages' must be a non-empty list")
  out = []
  for i, m in enumerate(messages, 1):
    if not isinstance(m, dict):
      raise DataError(f"message {i} is not an object with 'role' and 'content'")
    role, content = m.get("role"), m.get("content")
    if role not in ROLES:
      raise DataError(f"message {i}: role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(content, str) or not content.strip():
      raise DataError(f"message {i} ({role}): 'content' must be a non-empty string")
    spelled = [p for p in PIECES if p in content]
    if spelled:
      raise DataError(f"message {i} ({role}): content spells the chat piece {spelled[0]}, "
                      "which would end or start a turn")
    out.append({"role": role, "content": content})
  turns = out[1:] if out[0]["role"] == "system" else out
  for i, m in enumerate(turns):
    expected = ("user", "assistant")[i % 2]
    if m["role"] != expected:
      where = i + 1 + (len(out) - len(turns))
      raise DataError(f"message {where}: expected the {expected}'s turn, got {m['role']} "
                      "(an optional system message first, then user and assistant "
                      "alternating, starting with the user)")
  if for_training and not any(m["role"] == "assistant" for m in out):
    raise DataError("a training conversation needs at least one assistant message")
  if not for_training and turns and turns[-1]["role"] != "user":
    raise DataError("a prompt must end with a user message")
  return out


def render(messages: Sequence[Message]) -> str:
  """The conversation as text (what the token ids decode to, BOS aside)."""
  return "".join(ROLE_PIECES[m["role"]] + m["content"] + END for m in messages)


def parse(text: str) -> list[Message]:
  """The messages of a rendered conversation: render(parse(t)) == t for every t that render
  produced; DataError on anything else."""
  out, pos = [], 0
  for match in _TURN.finditer(text):
    if match.start() != pos:
      break
    role = next(r for r, p in ROLE_PIECES.items() if p == match.group(1))
    out.append({"role": role, "content": match.group(2)})
    pos = match.end()
  if pos != len(text) or not out:
    raise DataError(f"not a rendered conversation at character {pos}: {text[pos:pos + 40]!r}")
  for m in out:
    if any(p in m["content"] for p in PIECES):
      raise DataError(f"a {m['role']} turn holds another turn's piece: {m['content'][:40]!r}")
  return out


@dataclasses.dataclass(frozen=True)
class ChatTokens:
  """The ids of the chat pieces in one tokenizer."""
  bos: int
  eos: int
  end: int
  roles: dict[str, int]

  @classmethod
  def of(cls, tokenizer) -> ChatTokens:
    ids = {p: tokenizer.piece_to_id(p) for p in PIECES}
    missing = [p for p, i in ids.items() if i == tokenizer.unk_id
               or tokenizer.decode([i]) != p]
    if missing:
      raise DataError(f"the tokenizer has no single token for {', '.join(missing)}: it was "
                      "trained before llmjax reserved the chat pieces; retrain it")
    return cls(tokenizer.bos_id, tokenizer.eos_id, ids[END],
               {r: ids[p] for r, p in ROLE_PIECES.items()})

  @property
  def specials(self) -> frozenset[int]:
    """Ids an assistant's answer never contains."""
    return frozenset({self.bos, self.eos, self.end, *self.roles.values()})


def encode(tokenizer, messages: Sequence[Message]) -> tuple[np.ndarray, np.ndarray]:
  """(ids_T, mask_T) int32: BOS + the rendered conversation; mask 1 on the tokens an
  assistant wrote (content and its end-of-turn), the tokens the loss scores as targets."""
  return encode_many(tokenizer, [messages])[0]


def encode_many(tokenizer, conversations: Sequence[Sequence[Message]]
                ) -> list[tuple[np.ndarray, np.ndarray]]:
  """encode() of each conversation, every message's content tokenised in one batch."""
  chat = ChatTokens.of(tokenizer)
  contents = iter(tokenizer.encode_batch([m["content"] for c in conversations for m in c]))
  out = []
  for messages in conversations:
    ids, mask = [chat.bos], [0]
    for m in messages:
      content = next(contents)
      scored = int(m["role"] == "assistant")
      ids += [chat.roles[m["role"]], *content, chat.end]
      mask += [0] + [scored] * (len(content) + 1)
    out.append((np.asarray(ids, np.int32), np.asarray(mask, np.int32)))
  return out


def prompt(tokenizer, messages: Sequence[Message]) -> list[int]:
  """BOS + the conversation so far (ending with a user turn) + the assistant's role piece:
  what the model continues with its answer."""
  chat = ChatTokens.of(tokenizer)
  ids, _ = encode(tokenizer, messages)
  return ids.tolist() + [chat.roles["assistant"]]
