"""Deduplication: MinHash estimates Jaccard similarity; exact and near duplicates."""

import numpy as np

from llmjax.corpus import dedup
from tests.corpus.samples import TATAR


def test_minhash_estimates_jaccard():
  a = "Казан шәһәре Идел елгасы буенда урнашкан зур һәм матур шәһәр булып санала."
  pairs = [(a, a.replace("зур", "бик зур")), (a, a[:40] + " бүтән сүзләр монда язылган"),
           (a, TATAR[1])]
  sig = dedup.minhash_signatures([dedup.dedup_key(s) for p in pairs for s in p])
  for i, (x, y) in enumerate(pairs):
    est = float(np.mean(sig[2 * i] == sig[2 * i + 1]))
    assert abs(est - dedup.jaccard(x, y)) < 0.15, (i, est, dedup.jaccard(x, y))
  # Deterministic across calls and independent of batch composition.
  again = dedup.minhash_signatures([dedup.dedup_key(pairs[1][0])])
  np.testing.assert_array_equal(again[0], sig[2])


def test_deduplicator_exact_and_near():
  base = "Казан шәһәре Идел елгасы буенда урнашкан зур һәм матур шәһәр булып санала."
  lines = [base, base.upper().replace(".", "!"), base.replace("санала", "саналa") + " Әйе.",
           TATAR[1], TATAR[2]]
  d = dedup.Deduplicator()
  assert d.process(lines) == [None, "exact_dup", "near_dup", None, None]
  assert d.process([TATAR[1], TATAR[3]]) == ["exact_dup", None]  # state carries over
  assert dedup.Deduplicator(near=False).process(lines)[2] is None
