"""Command: answer held-out conversations greedily and score the answers (format, stop, chrF).

  python -m llmjax.sft.answer --workdir=runs/tiny \
      --file=runs/sft_tatar_data/test_headwords.jsonl --limit=200        # before
  python -m llmjax.sft.answer --workdir=runs/tiny --adapter=runs/sft_tatar \
      --file=runs/sft_tatar_data/test_headwords.jsonl --limit=200        # after

Prints one JSON object (llmjax.sft.answers.summarize: answers, format_rate, stop_rate,
chrf, mean_answer_chars, a few examples), also written to --out when given.
"""

import json

from absl import flags

from llmjax import errors, paths
from llmjax.sft import adapters, answers, data

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained or fine-tuned workdir (with "
                               "--adapter: the base model's).")
_ADAPTER = flags.DEFINE_string("adapter", None, "A LoRA fine-tuning workdir.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "auto", "'auto', 'best', 'latest' or a step.")
_FILE = flags.DEFINE_string("file", None, "JSONL conversations; the last assistant message "
                            "of each is the gold answer.")
_LIMIT = flags.DEFINE_integer("limit", 0, "Answer the first N conversations only (0 = all).")
_MAX_NEW = flags.DEFINE_integer("max_new_tokens", 96, "Longest answer, in tokens.")
_SYSTEM = flags.DEFINE_string("system", "", "A system message put before each conversation.")
_EXAMPLES = flags.DEFINE_integer("examples", 5, "Answers to include in full.")
_OUT = flags.DEFINE_string("out", "", "Also write the JSON here.")


def main(argv):
  del argv
  conversations = data.read_conversations(_FILE.value)
  if _LIMIT.value > 0:
    conversations = conversations[:_LIMIT.value]
  conversations = data.with_system(conversations, _SYSTEM.value)
  restored = adapters.load_any(_WORKDIR.value, _ADAPTER.value, _CHECKPOINT.value)
  found = answers.answer(restored.params, restored.cfg.model, restored.tokenizer,
                         conversations, max_new_tokens=_MAX_NEW.value)
  result = {"workdir": _WORKDIR.value, "adapter": _ADAPTER.value, "step": restored.step,
            "file": _FILE.value, **answers.summarize(found, _EXAMPLES.value)}
  text = json.dumps(result, ensure_ascii=False, indent=1)
  if _OUT.value:
    paths.atomic_write_text(_OUT.value, text + "\n")
  print(text)


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "file"])
  errors.run(main)
