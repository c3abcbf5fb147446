"""Continue a prompt with a trained model (KV-cached decoding).

  python -m llmjax.generate --workdir=runs/tiny --prompt="Казан шәһәре"
"""

from absl import app, flags

from llmjax import inference
from llmjax.errors import exit_on_error

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints.")
_PROMPT = flags.DEFINE_string("prompt", None, "Text to continue.")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 64, "Tokens to generate.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "0 = greedy.")
_TOP_K = flags.DEFINE_integer("top_k", 50, "Sample among the k most likely tokens; 0 = off.")
_TOP_P = flags.DEFINE_float("top_p", 0.95, "Nucleus sampling mass; 1 = off.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto",
                                  "'auto' (best, else latest), 'best', 'latest' or a step.")


@exit_on_error
def main(argv):
  del argv
  loaded = inference.load(_WORKDIR.value, _CHECKPOINT.value)
  print(inference.continue_text(loaded, _PROMPT.value, max_new_tokens=_MAX_NEW.value,
                      temperature=_TEMPERATURE.value, top_k=_TOP_K.value, top_p=_TOP_P.value,
                      seed=_SEED.value))


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "prompt"])
  app.run(main)
