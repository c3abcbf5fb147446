"""Command: continue a prompt with a trained model (KV-cached decoding).

  python -m llmjax.generate --workdir=runs/tiny --prompt="Казан шәһәре"
"""

from absl import flags

from llmjax import errors
from llmjax.model.decode import Sampling
from llmjax.training import restore

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints.")
_PROMPT = flags.DEFINE_string("prompt", None, "Text to continue.")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 64, "Tokens to generate.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "Sampling temperature; 0 = greedy.")
_TOP_K = flags.DEFINE_integer("top_k", 50, "Sample among the k most likely tokens; 0 = off.")
_TOP_P = flags.DEFINE_float("top_p", 0.95, "Nucleus sampling mass in (0, 1]; 1 = off.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto",
                                  "'auto' (best, else latest), 'best', 'latest' or a step.")


def main(argv):
  del argv
  sampling = Sampling(_TEMPERATURE.value, _TOP_K.value, _TOP_P.value)  # checked before loading
  restored = restore.load(_WORKDIR.value, _CHECKPOINT.value)
  print(restore.continue_text(restored, [_PROMPT.value], max_new_tokens=_MAX_NEW.value,
                              sampling=sampling, seed=_SEED.value)[0])


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "prompt"])
  errors.run(main)
