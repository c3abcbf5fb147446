"""Command: fold a LoRA adapter into its base model and write an ordinary workdir.

  python -m llmjax.sft.merge --adapter=runs/sft_tatar --out=runs/sft_tatar_merged
  python -m llmjax.export --workdir=runs/sft_tatar_merged --out=export/sft_tatar

The base is the checkpoint the adapter was trained on (its metadata names it; --workdir
gives it when the base workdir has moved). OUT gets best/<step> (the merged parameters,
W + alpha/r * A @ B, with the adapter run's config and the tokenizer in its metadata) and
tokenizer.model, written all at once: it restores, chats, evaluates and exports like a
pretrained workdir.
"""

import json

from absl import flags

from llmjax import errors
from llmjax.sft import adapters

_ADAPTER = flags.DEFINE_string("adapter", None, "The LoRA fine-tuning workdir.")
_OUT = flags.DEFINE_string("out", None, "Workdir to write (must not exist, or be empty).")
_WORKDIR = flags.DEFINE_string("workdir", None, "The base workdir, when it is not where the "
                               "adapter's metadata says.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "Which adapter checkpoint: 'best', "
                                  "'latest', 'auto' or a step.")


def main(argv):
  del argv
  out = adapters.merge_workdir(_ADAPTER.value, _OUT.value, _WORKDIR.value, _CHECKPOINT.value)
  print(json.dumps({"out": str(out), "files": sorted(p.name for p in out.iterdir())}))


if __name__ == "__main__":
  flags.mark_flags_as_required(["adapter", "out"])
  errors.run(main)
