"""Command: download and extract one Leipzig Wortschatz corpus (llmjax.corpus.sources).

  python -m llmjax.corpus.download --name=tat_news_2015_1M

Prints the folder holding sentences.txt. The archive is cached ($LLMJAX_LEIPZIG_CACHE, default
~/.cache/llmjax/leipzig), resumed when a download was cut, and checked against the size and
sha256 recorded at its first download.
"""

from absl import flags

from llmjax import errors, paths
from llmjax.corpus import sources

_NAME = flags.DEFINE_string("name", None, "Corpus name, e.g. tat_news_2015_1M.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", "", "Where archives and extracted text live "
                                 "(default $LLMJAX_LEIPZIG_CACHE or ~/.cache/llmjax/leipzig).")
_BASE_URL = flags.DEFINE_string("base_url", "", "URL template with {name} (default "
                                f"$LLMJAX_LEIPZIG_URL or {paths.LEIPZIG_URL}).")
_TIMEOUT = flags.DEFINE_float("timeout", 30.0, "Seconds without data before a retry.")


def main(argv):
  del argv
  print(sources.fetch_leipzig(_NAME.value, _CACHE_DIR.value or None,
                              base_url=_BASE_URL.value or None, timeout=_TIMEOUT.value))


if __name__ == "__main__":
  flags.mark_flag_as_required("name")
  errors.run(main)
