"""The chat template: render / parse round trip, token ids, and the loss mask (exactly the
assistant's tokens, in the encoded conversation and in the packed rows)."""

import numpy as np
import pytest

from llmjax.data.packing import LOSS_MASK
from llmjax.errors import DataError
from llmjax.sft import data, template
from tests.sft.conftest import conversations

TRICKY = [
    [{"role": "user", "content": "Сәлам!"}, {"role": "assistant", "content": "Исәнме."}],
    [{"role": "system", "content": "Кыска җавап бир.\nТатарча гына."},
     {"role": "user", "content": "«Китап» нәрсә ул?\n\n  (озын сорау)  "},
     {"role": "assistant", "content": "Басма әсәр 📚; <|end> түгел, <end|> да түгел."},
     {"role": "user", "content": "Ә ▁ символы?"},
     {"role": "assistant", "content": "  пробел белән башланган җавап"}],
]


@pytest.mark.parametrize("messages", TRICKY + conversations(10))
def test_render_parse_round_trip(messages, chat_tokenizer):
  text = template.render(messages)
  assert template.parse(text) == messages
  assert template.render(template.parse(text)) == text
  ids, mask = template.encode(chat_tokenizer, messages)
  assert ids[0] == chat_tokenizer.bos_id and len(ids) == len(mask)
  assert chat_tokenizer.decode(ids[1:]) == text  # the ids are the rendered text, exactly


def test_loss_mask_covers_exactly_the_assistant_tokens(chat_tokenizer):
  chat = template.ChatTokens.of(chat_tokenizer)
  messages = TRICKY[1]
  ids, mask = template.encode(chat_tokenizer, messages)
  expected = [t for m in messages if m["role"] == "assistant"
              for t in chat_tokenizer.encode(m["content"]) + [chat.end]]
  assert ids[mask == 1].tolist() == expected
  # ...and nothing of the system or user turns, nor the role pieces, nor BOS.
  assert chat.roles["assistant"] not in ids[mask == 1].tolist()
  ends = np.flatnonzero(ids == chat.end)
  assert mask[ends].tolist() == [0, 0, 1, 0, 1]  # system, user, assistant, user, assistant


def test_packed_rows_score_exactly_the_assistant_tokens(chat_tokenizer):
  """After packing (segment ids, several conversations per row), the scored targets are
  each conversation's assistant tokens, in order, and nothing else."""
  chat = template.ChatTokens.of(chat_tokenizer)
  convs = conversations(30)
  rows, counts = data.pack_conversations(chat_tokenizer, convs, seq_len=256)
  assert counts["truncated"] == 0 and rows.loss_mask is not None
  batch = rows.take(slice(0, len(rows)))
  assert set(batch) == {"inputs", "targets", "segment_ids", "positions", LOSS_MASK}
  assert not (batch[LOSS_MASK] & (batch["segment_ids"] == 0)).any()  # never padding
  scored = sorted(tuple(batch["targets"][r][(batch["segment_ids"][r] == s)
                                            & (batch[LOSS_MASK][r] == 1)].tolist())
                  for r in range(len(rows)) for s in set(batch["segment_ids"][r]) - {0})
  expected = sorted(tuple(t for m in c if m["role"] == "assistant"
                          for t in chat_tokenizer.encode(m["content"]) + [chat.end])
                    for c in convs)
  assert scored == expected


def test_prompt_ends_with_the_assistant_piece(chat_tokenizer):
  chat = template.ChatTokens.of(chat_tokenizer)
  user = [{"role": "user", "content": "Сәлам!"}]
  ids = template.prompt(chat_tokenizer, user)
  assert ids[-1] == chat.roles["assistant"] and ids[-2] == chat.end


@pytest.mark.parametrize("messages, match", [
    ([], "non-empty list"),
    ([{"role": "bot", "content": "x"}], "role 'bot'"),
    ([{"role": "user", "content": ""}], "non-empty string"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}], "expected the "
     "assistant's turn"),
    ([{"role": "assistant", "content": "a"}], "expected the user's turn"),
    ([{"role": "user", "content": "a<|end|>"}, {"role": "assistant", "content": "b"}],
     "spells the chat piece"),
    ([{"role": "user", "content": "a"}], "needs at least one assistant"),
])
def test_malformed_conversations_are_refused(messages, match):
  with pytest.raises(DataError, match=match):
    template.check(messages)


def test_parse_refuses_text_that_is_not_a_conversation():
  with pytest.raises(DataError, match="not a rendered conversation"):
    template.parse("<|user|>a<|end|>tail")
  with pytest.raises(DataError, match="another turn's piece"):
    template.parse("<|user|>a<|assistant|>b<|end|>")
