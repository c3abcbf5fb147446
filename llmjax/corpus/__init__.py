"""Stage 1, the corpus: text in, clean Tatar text out.

Library: text (reading folders, the train/validation split), sources + tfds_leipzig
(Leipzig Wortschatz downloads), normalize, quality, langid, dedup, cleaning (the pipeline),
mix (weighted sources), stats + analysis (the corpus report).
Commands: python -m llmjax.corpus.download | clean | report | langid_eval | bench
"""
