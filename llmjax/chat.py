"""Command: chat with a fine-tuned model in the terminal (multi-turn, streamed, KV-cached).

  python -m llmjax.chat --workdir=runs/sft_full                     # a whole model
  python -m llmjax.chat --workdir=runs/tiny --adapter=runs/sft_tatar  # base + LoRA adapter
  python -m llmjax.chat --workdir=runs/sft_tatar                    # the same: the adapter
                                                                    # names its base

Type a message and Enter: the answer is printed as it is generated and ends at the model's
end-of-turn (llmjax.sft.template). The conversation is remembered; when it outgrows the
model's window the oldest exchanges are forgotten (a note says so). /reset starts a new
conversation, /quit or Ctrl-D leaves. Lines piped in are answered one after another, so a
session can be scripted: printf 'Сәлам!\\n/quit\\n' | python -m llmjax.chat --workdir=...
"""

import sys

from absl import flags

from llmjax import errors
from llmjax.errors import DataError
from llmjax.model.decode import Sampling
from llmjax.sft import adapters
from llmjax.sft.chat import Chat

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained or fine-tuned workdir (with "
                               "--adapter: the base model's).")
_ADAPTER = flags.DEFINE_string("adapter", None, "A LoRA fine-tuning workdir to apply to "
                               "--workdir.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto", "'auto' (best, else latest), "
                                  "'best', 'latest' or a step (of --adapter when given).")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 96, "Longest answer, in tokens.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.0, "Sampling temperature; 0 = greedy.")
_TOP_K = flags.DEFINE_integer("top_k", 0, "Sample among the k most likely tokens; 0 = off.")
_TOP_P = flags.DEFINE_float("top_p", 1.0, "Nucleus sampling mass in (0, 1]; 1 = off.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_SYSTEM = flags.DEFINE_string("system", "", "A system message to start the conversation.")


def _lines():
  """The user's lines: typed at a prompt, or piped in (echoed, so the output reads as a
  transcript)."""
  interactive = sys.stdin.isatty()
  while True:
    try:
      line = input("> ") if interactive else sys.stdin.readline()
    except EOFError:
      return
    if not interactive:
      if not line:
        return
      print(f"> {line.rstrip()}")
    yield line.strip()


def main(argv):
  del argv
  sampling = Sampling(_TEMPERATURE.value, _TOP_K.value, _TOP_P.value)  # checked first
  if _MAX_NEW.value < 1:
    raise DataError("--max_new_tokens must be >= 1")
  restored = adapters.load_any(_WORKDIR.value, _ADAPTER.value, _CHECKPOINT.value)
  chat = Chat(restored.params, restored.cfg.model, restored.tokenizer, sampling,
              _MAX_NEW.value, _SYSTEM.value, _SEED.value)
  what = _ADAPTER.value or _WORKDIR.value
  window = restored.cfg.model.max_seq_len
  print(f"chat with {what} (step {restored.step}, a window of {window} tokens); "
        "/reset starts over, /quit leaves", flush=True)
  for text in _lines():
    if not text:
      continue
    if text == "/quit":
      break
    if text == "/reset":
      chat.reset()
      print("(a new conversation)")
      continue
    try:
      reply = chat.say(text, show=lambda s: print(s, end="", flush=True))
    except DataError as e:  # a message too long for the window: say so, go on
      print(f"({e})")
      continue
    print(flush=True)
    if reply.forgotten:
      print(f"(the first {reply.forgotten} exchange(s) no longer fit the {window}-token "
            "window and were forgotten)")
    if reply.stop == "length":
      print(f"(cut after {reply.tokens} tokens: no end-of-turn yet)")


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  errors.run(main)
