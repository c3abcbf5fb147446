"""Continue a prompt with a trained model (KV-cached decoding).

  python -m llmjax.generate --workdir=runs/tiny --prompt="Казан шәһәре"
"""

import jax
import numpy as np
from absl import app, flags

from llmjax import decode, inference
from llmjax.errors import ConfigError, exit_on_error

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints.")
_PROMPT = flags.DEFINE_string("prompt", None, "Text to continue.")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 64, "Tokens to generate.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "0 = greedy.")
_TOP_K = flags.DEFINE_integer("top_k", 50, "Sample among the k most likely tokens; 0 = off.")
_TOP_P = flags.DEFINE_float("top_p", 0.95, "Nucleus sampling mass; 1 = off.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto",
                                  "'auto' (best, else latest), 'best', 'latest' or a step.")


def continue_text(loaded: inference.Loaded, prompt: str, *, max_new_tokens: int,
                  temperature: float, top_k: int, top_p: float, seed: int) -> str:
  tok = loaded.tokenizer
  prompt_ids = [tok.bos_id] + tok.encode(prompt)
  limit = loaded.cfg.model.max_seq_len
  if len(prompt_ids) + max_new_tokens > limit:
    raise ConfigError(f"prompt ({len(prompt_ids)} tokens) + max_new_tokens={max_new_tokens} "
                      f"exceeds the model's context of {limit} tokens")
  out = decode.generate(
      loaded.params, loaded.cfg.model, np.asarray([prompt_ids], np.int32),
      max_new_tokens=max_new_tokens, rng=jax.random.key(seed), temperature=temperature,
      top_k=top_k, top_p=top_p, eos_id=tok.eos_id)
  ids = [int(i) for i in np.asarray(out)[0]]
  if tok.eos_id in ids:
    ids = ids[:ids.index(tok.eos_id)]
  return tok.decode(ids)


@exit_on_error
def main(argv):
  del argv
  loaded = inference.load(_WORKDIR.value, _CHECKPOINT.value)
  print(continue_text(loaded, _PROMPT.value, max_new_tokens=_MAX_NEW.value,
                      temperature=_TEMPERATURE.value, top_k=_TOP_K.value, top_p=_TOP_P.value,
                      seed=_SEED.value))


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "prompt"])
  app.run(main)
