"""Command: a Markdown report of suite results side by side (e.g. trained vs random init).

  python -m llmjax.evals.report --result=trained=reports/eval/trained.json \
      --result=random_init=reports/eval/random_init.json \
      --leakcheck=reports/eval/leakcheck.json --preamble=reports/eval/preamble.md \
      --out=reports/eval/README.md

Every number comes from the JSON files (written by `python -m llmjax.evaluate --suite`);
llmjax.evals.markdown renders them.
"""

import json
import pathlib

from absl import flags

from llmjax import errors
from llmjax.errors import ConfigError
from llmjax.evals import markdown
from llmjax.paths import atomic_write_text

_RESULT = flags.DEFINE_multi_string("result", [], "LABEL=path.json of a suite result.")
_HISTORY = flags.DEFINE_multi_string("history", [], "LABEL=path to a run's metrics.jsonl "
                                     "(few-shot validation rows become a table).")
_LEAKCHECK = flags.DEFINE_string("leakcheck", "", "JSON written by llmjax.evals.leakcheck.")
_PREAMBLE = flags.DEFINE_string("preamble", "", "Markdown file put under the title.")
_OUT = flags.DEFINE_string("out", "", "Where to write the report; empty = print it.")


def _labelled_files(flag: str, specs: list[str]) -> list[tuple[str, str]]:
  out = []
  for spec in specs:
    label, sep, path = spec.partition("=")
    if not sep or not pathlib.Path(path).is_file():
      raise ConfigError(f"--{flag}={spec!r}: expected LABEL=path to an existing file")
    out.append((label, pathlib.Path(path).read_text(encoding="utf-8")))
  return out


def main(argv):
  del argv
  results = [(label, json.loads(text)) for label, text in _labelled_files("result", _RESULT.value)]
  histories = [(label, [json.loads(x) for x in text.splitlines() if x.strip()])
               for label, text in _labelled_files("history", _HISTORY.value)]
  if not results:
    raise ConfigError("give at least one --result=LABEL=path.json")
  leak = json.loads(pathlib.Path(_LEAKCHECK.value).read_text(encoding="utf-8")) \
      if _LEAKCHECK.value else None
  preamble = pathlib.Path(_PREAMBLE.value).read_text(encoding="utf-8") if _PREAMBLE.value else ""
  text = markdown.render(results, leak, preamble, histories)
  if _OUT.value:
    atomic_write_text(_OUT.value, text)
  else:
    print(text)


if __name__ == "__main__":
  errors.run(main)
