"""Chat: a reply stops at end-of-turn (nothing past it is generated), the conversation is
remembered, and the prompt stays within the model's window."""


import jax.numpy as jnp
import numpy as np
import pytest

from llmjax.errors import DataError
from llmjax.model import decode
from llmjax.sft import template
from llmjax.sft.chat import Chat, fit
from tests.helpers import micro_config, numpy_params


@pytest.fixture(scope="module")
def cfg():
  return micro_config(model__max_seq_len=64)[0].model


def _scripted(tokens, pulled):
  """A stand-in for decode.stream: yields `tokens`, counting how many were asked for."""
  def stream(params, cfg, prompt, *, max_new_tokens, rng, sampling, stop_ids):
    del params, cfg, rng, sampling
    pulled.append({"prompt": list(prompt), "budget": max_new_tokens, "stop": set(stop_ids)})
    for i, tok in enumerate(tokens[:max_new_tokens]):
      pulled[-1]["n"] = i + 1
      yield tok
  return stream


def test_reply_stops_at_end_of_turn(cfg, chat_tokenizer):
  chat_ids = template.ChatTokens.of(chat_tokenizer)
  words = chat_tokenizer.encode("Казан шәһәре")
  pulled, shown = [], []
  chat = Chat(None, cfg, chat_tokenizer, max_new_tokens=20,
              stream=_scripted(words + [chat_ids.end] + words, pulled))
  reply = chat.say("Сәлам!", show=shown.append)
  assert reply.text == "Казан шәһәре" and reply.stop == "end"
  assert pulled[0]["n"] == len(words) + 1  # nothing after <|end|> was generated
  assert chat_ids.end in pulled[0]["stop"]
  assert "".join(shown) == "Казан шәһәре"
  assert chat.history == [{"role": "user", "content": "Сәлам!"},
                          {"role": "assistant", "content": "Казан шәһәре"}]
  # The next prompt holds the whole conversation, rendered by the template.
  chat.say("Тагын?")
  assert pulled[1]["prompt"] == template.prompt(chat_tokenizer, chat.history[:3])


def test_another_chat_piece_also_ends_the_turn(cfg, chat_tokenizer):
  chat_ids = template.ChatTokens.of(chat_tokenizer)
  pulled = []
  chat = Chat(None, cfg, chat_tokenizer, stream=_scripted(
      chat_tokenizer.encode("Әйе") + [chat_ids.roles["user"], 5, 6], pulled))
  reply = chat.say("Сәлам!")
  assert (reply.text, reply.stop) == ("Әйе", "piece")
  no_stop = Chat(None, cfg, chat_tokenizer, max_new_tokens=3,
                 stream=_scripted(chat_tokenizer.encode("ааааааа бббббб"), []))
  assert no_stop.say("Сәлам!").stop == "length"


def test_the_real_decoder_stops_at_end_of_turn(cfg, chat_tokenizer):
  """A model rigged to put all its probability on <|end|>: the KV-cached decoder yields it
  first and the reply is empty; one token was generated, not max_new_tokens."""
  chat_ids = template.ChatTokens.of(chat_tokenizer)
  params = numpy_params(cfg, seed=0)
  emb = 0.01 * np.random.default_rng(0).standard_normal(params["embedding"].shape)
  emb[:, 0] = 1.0
  emb[chat_ids.end, 0] = 50.0  # tied: the end-of-turn row dominates every logit row
  params = {**params, "embedding": jnp.asarray(emb, jnp.float32),
            "layers": {**params["layers"],
                       "attn": {**params["layers"]["attn"],
                                "wo": jnp.zeros_like(params["layers"]["attn"]["wo"])},
                       "mlp": {**params["layers"]["mlp"],
                               "down": jnp.zeros_like(params["layers"]["mlp"]["down"])}}}
  counted = []

  def counting_stream(*args, **kwargs):
    for tok in decode.stream(*args, **kwargs):
      counted.append(tok)
      yield tok
  chat = Chat(params, cfg, chat_tokenizer, max_new_tokens=10, stream=counting_stream)
  reply = chat.say("Сәлам!")
  assert (reply.text, reply.stop, reply.tokens) == ("", "end", 1)
  assert counted == [chat_ids.end]


def test_old_exchanges_are_forgotten_to_fit_the_window(cfg, chat_tokenizer):
  user = {"role": "user", "content": "Сәлам!"}
  history = []
  for i in range(6):
    history += [{"role": "user", "content": f"Сорау {i} Казан шәһәре турында"},
                {"role": "assistant", "content": "Казан — Татарстанның башкаласы."}]
  ids, budget, forgotten = fit(chat_tokenizer, [], history, user, window=64,
                               max_new_tokens=16)
  assert len(ids) + budget <= 64 and budget == 16 and forgotten > 0
  kept = history[2 * forgotten:]
  assert ids == template.prompt(chat_tokenizer, [*kept, user])
  # The system message always stays; a message too long for the window is refused.
  system = [{"role": "system", "content": "Кыска җавап бир."}]
  ids, _, _ = fit(chat_tokenizer, system, history, user, window=64, max_new_tokens=16)
  assert ids[:3] == template.prompt(chat_tokenizer, [*system, user])[:3]
  with pytest.raises(DataError, match="window is 64 tokens"):
    fit(chat_tokenizer, [], [], {"role": "user", "content": "Казан " * 80}, 64, 16)
