"""A TFDS builder for the Leipzig Tatar corpora, written as ArrayRecord (no TensorFlow).

  import tensorflow_datasets as tfds
  from llmjax.corpus import tfds_leipzig  # registers the builder
  b = tfds_leipzig.LeipzigTatar(config="tat_news_2015_1M", data_dir="~/tensorflow_datasets")
  b.download_and_prepare(file_format="array_record")
  ds = tfds.data_source("leipzig_tatar/tat_news_2015_1M", data_dir="~/tensorflow_datasets")
  ds[0]["text"]  # bytes of the first sentence; grain.MapDataset.source(ds) reads it

Downloads go through llmjax.corpus.sources (resume, retries, manifest) into
llmjax.paths.leipzig_cache() (env LLMJAX_LEIPZIG_CACHE, default ~/.cache/llmjax/leipzig).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from llmjax.corpus import sources

CORPORA = tuple(f"tat_{genre}_{size}" for genre in ("news_2015", "web_2018", "mixed_2015")
                for size in ("10K", "30K", "100K", "300K", "1M"))


class LeipzigTatar(tfds.core.GeneratorBasedBuilder):
  """Sentences of one Leipzig Wortschatz Tatar corpus (config name = corpus name)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Sentences of the Leipzig Wortschatz tat_* corpora."}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n, description=f"Leipzig {n}")
                     for n in CORPORA]
  base_url = ""  # "" = llmjax.paths.leipzig_url(); tests point this at a local server

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({"text": tfds.features.Text(),
                                             "index": np.int64}),
        homepage="https://wortschatz.uni-leipzig.de/en/download/Tatar",
        description="Tatar sentences (one per example) from the Leipzig corpora collection.")

  def _split_generators(self, dl_manager):
    del dl_manager  # our downloader resumes and checks a manifest
    folder = sources.fetch_leipzig(self.builder_config.name, base_url=self.base_url or None,
                                   progress=False)
    return {"train": self._generate_examples(folder / "sentences.txt")}

  def _generate_examples(self, path):
    with open(path, encoding="utf-8") as f:
      for i, line in enumerate(f):
        yield i, {"text": line.rstrip("\n"), "index": i}
