"""The corpus stage: sources (Leipzig, TFDS, local text), cleaning, language ID, dedup.

  python -m llmjax.corpus.clean --text_dir=../shared/data/tatar/train --out=/tmp/clean
  python -m llmjax.data.report --text_dir=../shared/data/tatar/train --out=reports/corpus
"""
