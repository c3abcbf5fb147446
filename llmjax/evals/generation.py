"""Is the generated text Tatar? Continuations of fixed prompts, measured beside human text.

The prompts are the first halves of a fixed sample of FLORES-dev sentences (split at the
character midpoint, rounded to a word boundary); the model continues each by sampling
(fixed seed). The same measures are taken of the human second halves, as the ceiling:
- vocabulary share: generated words (lower-cased) found in the training split's vocabulary
  (a model that invents words scores low; a copy machine scores 1);
- Tatar share: continuations the project's language ID labels Tatar (llmjax.corpus.langid);
- distinct-2: distinct word bigrams / all word bigrams, over all continuations;
- repetition: the share of word 3-grams that repeat an earlier 3-gram of the same text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from llmjax.corpus import langid
from llmjax.corpus.stats import words
from llmjax.evals.common import sample
from llmjax.model import decode
from llmjax.training.restore import Restored


@dataclasses.dataclass(frozen=True)
class GenerationOptions:
  prompts: int = 48  # FLORES sentences whose first halves are continued
  max_new_tokens: int = 32
  temperature: float = 0.8
  top_k: int = 0
  top_p: float = 0.95
  seed: int = 0
  samples_shown: int = 8


def halves(line: str) -> tuple[str, str]:
  """(first half, second half), split at the space nearest the character midpoint."""
  spaces = [i for i, c in enumerate(line) if c == " "]
  if not spaces:
    return line, ""
  cut = min(spaces, key=lambda i: abs(i - len(line) / 2))
  return line[:cut], line[cut + 1:]


def measure(texts: Sequence[str], vocabulary: set[str]) -> dict[str, float]:
  """The four measures of a list of continuations."""
  tokens = [words(t) for t in texts]
  all_words = [w for ws in tokens for w in ws]
  bigrams = [(a, b) for ws in tokens for a, b in zip(ws, ws[1:])]
  repeats = trigrams = 0
  for ws in tokens:
    seen = set()
    for gram in zip(ws, ws[1:], ws[2:]):
      trigrams += 1
      repeats += gram in seen
      seen.add(gram)
  labels = langid.default_model().predict_batch(list(texts)) if texts else []
  return {"vocabulary_share": sum(w in vocabulary for w in all_words) / max(len(all_words), 1),
          "tatar_share": sum(label == "tat" for label in labels) / max(len(labels), 1),
          "distinct_2": len(set(bigrams)) / max(len(bigrams), 1),
          "repetition": repeats / max(trigrams, 1),
          "words_per_text": len(all_words) / max(len(texts), 1)}


def score(restored: Restored, flores_lines: Sequence[str], train_docs: Sequence[str],
          opts: GenerationOptions = GenerationOptions()) -> dict:
  """Model and human measures side by side, and a few samples."""
  pairs = [halves(line) for line in sample(flores_lines, opts.prompts, opts.seed)]
  pairs = [(a, b) for a, b in pairs if a and b]
  sampling = decode.Sampling(opts.temperature, opts.top_k, opts.top_p)
  generated = decode.continue_text(restored.params, restored.cfg.model, restored.tokenizer,
                                   [a for a, _ in pairs],
                                   max_new_tokens=opts.max_new_tokens, sampling=sampling,
                                   seed=opts.seed, truncate=True)
  generated = [g.strip() for g in generated]
  vocabulary = {w for doc in train_docs for w in words(doc)}
  return {"prompts": len(pairs), "options": dataclasses.asdict(opts),
          "model": measure(generated, vocabulary),
          "human": measure([b for _, b in pairs], vocabulary),
          "samples": [{"prompt": a, "generated": g, "human": b}
                      for (a, b), g in zip(pairs[:opts.samples_shown], generated)]}
