"""Command: measure language identification on the labelled mix; --train rebuilds the model.

  python -m llmjax.corpus.langid_eval [--train]

Prints precision / recall tables (Tatar vs Russian, Bashkir, English) on the held-out half
of the labelled mix (llmjax.corpus.langid); the mix is development data, found by
llmjax.paths.labelled_mix_dir() unless --mix_dir is given.
"""

from absl import flags

from llmjax import errors, paths
from llmjax.corpus import langid

_TRAIN = flags.DEFINE_bool("train", False, "Rebuild langid_model.json from the training halves.")
_MIX_DIR = flags.DEFINE_string("mix_dir", "", "Folder holding tatar/ and other_languages/ "
                               "(default: the development data folder).")


def main(argv):
  del argv
  root = _MIX_DIR.value or paths.labelled_mix_dir()
  if not root:
    errors.fail("no labelled mix: give --mix_dir=DIR holding tatar/ and other_languages/")
  if _TRAIN.value:
    model = langid.train_default(root)
    model.save()
    print(f"wrote {langid.MODEL_PATH} ({len(model.logp)} n-grams)")
  model = langid.LangId.load()
  for name, tatar in (("Tatar in any script", ("tat", "tat_latn")),
                      ("Cyrillic Tatar only (what clean keeps)", ("tat",))):
    print(f"{name}:")
    print(langid.format_table(langid.evaluate(model, root, tatar=tatar)))


if __name__ == "__main__":
  errors.run(main)
