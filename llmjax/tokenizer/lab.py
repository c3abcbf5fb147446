"""The tokenizer lab: vocab sizes x model types, measured and written up as a report.

Run by `python -m llmjax.tokenizer.sweep`. Trains (or reuses: llmjax.tokenizer.spm's cache)
one tokenizer per (model type, vocab size) on the training split, measures it with
llmjax.tokenizer.analysis on the training split, the validation split and FLORES dev, and
writes README.md, results.json and PNG plots (needs matplotlib: `pip install -e
".[analysis]"`). Downstream results written by `python -m llmjax.experiments.downstream`
(downstream_*.json) are tabulated and plotted too.
Every number in the report comes from this command; the report holds no corpus text
beyond the fixed example words of analysis.EXAMPLE_WORDS and single pieces.
"""

from __future__ import annotations

import collections
import io
import json
import pathlib
import statistics
import time
from typing import Sequence

from llmjax.corpus.text import corpus_sha256, read_documents, read_lines, split_documents
from llmjax.tokenizer import analysis
from llmjax.tokenizer.spm import TokenizerSpec, load_or_train
from llmjax.paths import atomic_write_bytes, atomic_write_text

DEFAULT_VAL_FRACTION = 0.02  # DataConfig's default: the same split as training runs

SETS = ("train", "val", "flores_dev")
SET_NAMES = {"train": "train split", "val": "validation split", "flores_dev": "FLORES dev"}


def run_sweep(text_dir: str, flores: str, vocab_sizes: Sequence[int],
              model_types: Sequence[str], cache_dir: str, max_sentences: int,
              val_fraction: float = DEFAULT_VAL_FRACTION) -> dict:
  docs = read_documents(text_dir)
  train, val = split_documents(docs, val_fraction)
  heldout = {"val": val}
  if flores:
    heldout["flores_dev"] = read_lines(flores)
  sha = corpus_sha256(train)
  results = []
  for model_type in model_types:
    for v in vocab_sizes:
      start = time.perf_counter()
      tok, reused = load_or_train(pathlib.Path(cache_dir) / f"{model_type}-{v}.model", train,
                                  TokenizerSpec(v, model_type, max_sentences), docs_sha=sha)
      trained_s = time.perf_counter() - start
      r = analysis.analyse(tok, train, heldout)
      r["train_seconds"] = None if reused else round(trained_s, 1)
      results.append(r)
      print(f"{model_type:7s} {v:6d}: chars/token train {r['train']['chars_per_token']:.3f}"
            f" flores {r.get('flores_dev', {}).get('chars_per_token', float('nan')):.3f}"
            f", rare<10 {r['rare']['lt10']:.3f} ({'reused' if reused else 'trained'})",
            flush=True)
  return {"corpus_sha256": sha, "train_docs": len(train), "val_docs": len(val),
          "max_sentences": max_sentences, "val_fraction": val_fraction,
          "docs_used": min(len(train), max_sentences or len(train)),
          "flores_lines": len(heldout.get("flores_dev", [])), "results": results}


# --- downstream ----------------------------------------------------------------------------


def load_downstream(out_dir: pathlib.Path) -> list[dict]:
  """Runs of every downstream_*.json, each tagged with its file's config and seed."""
  runs = []
  for path in sorted(out_dir.glob("downstream_*.json")):
    d = json.loads(path.read_text())
    seed = d.get("overrides", {}).get("seed", "0")
    for r in d["runs"]:
      runs.append({**r, "config": d["config"], "seed": str(seed), "device": d["device"],
                   "ref_vocab": d["ref_vocab"], "ref_steps": d["ref_steps"],
                   "batch_size": d["batch_size"], "seq_len": d["seq_len"],
                   "file": path.name})
  return runs


def _group(runs: list[dict]) -> dict[tuple, list[dict]]:
  g = collections.defaultdict(list)
  for r in runs:
    g[(r["config"], r["model_type"], r["vocab_size"])].append(r)
  return dict(sorted(g.items()))


def _mean(xs: list[float]) -> float:
  return statistics.fmean(xs)


def downstream_summary(runs: list[dict]) -> list[dict]:
  """One row per (config, model type, vocab): means over seeds."""
  rows = []
  for (config, mt, v), rs in _group(runs).items():
    flores = [r["flores_dev"]["bits_per_char"] for r in rs if "flores_dev" in r]
    rows.append({
        "config": config, "model_type": mt, "vocab_size": v, "seeds": len(rs),
        "steps": rs[0]["steps"], "seq_len": rs[0]["seq_len"], "tokens": rs[0]["tokens"], "train_flops": rs[0]["train_flops"],
        "train_chars_per_token": rs[0]["data"].get("train_chars_per_token"),
        "epochs": rs[0]["tokens"] / max(rs[0]["data"].get("train_tokens", 1), 1),
        "val_bpc": _mean([r["val_bits_per_char_best"] for r in rs]),
        "val_bpc_all": [r["val_bits_per_char_best"] for r in rs],
        "flores_bpc": _mean(flores) if flores else None, "flores_bpc_all": flores,
        "device": rs[0]["device"],
        "tokenizer_sha256": rs[0]["data"].get("tokenizer_sha256", "")})
  return rows


def choose_vocab(rows: list[dict], config: str, model_type: str) -> dict | None:
  """The row with the lowest FLORES dev bits/char (held out, out of domain) for a config."""
  cands = [r for r in rows if r["config"] == config and r["model_type"] == model_type
           and r["flores_bpc"] is not None]
  return min(cands, key=lambda r: r["flores_bpc"]) if cands else None


# --- plots -----------------------------------------------------------------------------------


def write_plots(sweep: dict, rows: list[dict], out_dir: pathlib.Path) -> list[str]:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  res = sweep["results"]
  types = sorted({r["model_type"] for r in res})
  written = []

  def save(fig, name):
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(out_dir / name, buf.getvalue())
    plt.close(fig)
    written.append(name)

  def by_vocab(mt, key):
    rs = sorted((r for r in res if r["model_type"] == mt), key=lambda r: r["vocab_size"])
    return [r["vocab_size"] for r in rs], [key(r) for r in rs]

  for name, ylabel, key in (
      ("compression.png", "characters per token", "chars_per_token"),
      ("fertility.png", "tokens per word (fertility)", "fertility")):
    fig, ax = plt.subplots(figsize=(6, 4))
    for mt in types:
      for s, style in (("train", "-"), ("flores_dev", "--")):
        if s in res[0]:
          x, y = by_vocab(mt, lambda r, s=s: r[s][key])
          ax.plot(x, y, style, marker="o", label=f"{mt}, {SET_NAMES[s]}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("vocabulary size")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, name)

  fig, ax = plt.subplots(figsize=(6, 4))
  for mt in types:
    for k, style in (("lt10", "-"), ("lt100", "--")):
      x, y = by_vocab(mt, lambda r, k=k: r["rare"][k])
      ax.plot(x, y, style, marker="o", label=f"{mt}, < {k[2:]} uses")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("vocabulary size")
  ax.set_ylabel("share of learned pieces (train split)")
  ax.grid(alpha=0.3)
  ax.legend()
  save(fig, "rare_tokens.png")

  fig, axes = plt.subplots(1, len(types), figsize=(5 * len(types), 4), sharey=True,
                           squeeze=False)
  for ax, mt in zip(axes[0], types):
    for r in sorted((r for r in res if r["model_type"] == mt), key=lambda r: r["vocab_size"]):
      c = r["rank_frequency"]
      ax.loglog(range(1, len(c) + 1), c, label=f"{r['vocab_size']}")
    ax.set_title(mt)
    ax.set_xlabel("rank")
    ax.grid(alpha=0.3)
    ax.legend(title="vocab")
  axes[0][0].set_ylabel("uses in the train split")
  save(fig, "rank_frequency.png")

  if rows:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for (config, mt) in sorted({(r["config"], r["model_type"]) for r in rows}):
      rs = sorted((r for r in rows if r["config"] == config and r["model_type"] == mt),
                  key=lambda r: r["vocab_size"])
      label = f"{pathlib.Path(config).stem}, {mt}"
      axes[0].plot([r["vocab_size"] for r in rs], [r["val_bpc"] for r in rs], marker="o",
                   label=label)
      fl = [r for r in rs if r["flores_bpc"] is not None]
      axes[1].plot([r["vocab_size"] for r in fl], [r["flores_bpc"] for r in fl], marker="o",
                   label=label)
    for ax, title in zip(axes, ("validation split", "FLORES dev")):
      ax.set_xscale("log", base=2)
      ax.set_xlabel("vocabulary size")
      ax.set_ylabel("bits per character")
      ax.set_title(f"{title} (same training FLOPs)")
      ax.grid(alpha=0.3)
      ax.legend()
    save(fig, "downstream.png")
  return written


# --- report ----------------------------------------------------------------------------------


def _f(x, nd=3) -> str:
  return "–" if x is None else f"{x:.{nd}f}"


def _pct(x) -> str:
  return f"{100 * x:.1f}%"


def render(sweep: dict, rows: list[dict], plots: list[str], cmd: str) -> str:
  res = sorted(sweep["results"], key=lambda r: (r["model_type"], r["vocab_size"]))
  sets = [s for s in SETS if s in res[0]]
  L = ["# Tokenizer report (Tatar)", "",
       f"Generated by `{cmd}`; do not edit by hand.", "",
       f"Tokenizers: SentencePiece, identity normalisation, byte fallback, trained on the "
       f"training split only ({sweep['train_docs']} documents, {sweep['docs_used']} used, "
       f"sample cap {sweep['max_sentences']}; corpus sha256 {sweep['corpus_sha256'][:12]}). "
       f"Held out: the validation split ({sweep['val_docs']} documents, "
       f"data.val_fraction={sweep['val_fraction']}) and FLORES-200 dev "
       f"({sweep['flores_lines']} lines).", "",
       "## Compression and fertility", "",
       "Characters per token (higher = shorter sequences) and tokens per whitespace word.", "",
       "| type | vocab | " + " | ".join(f"chars/tok {SET_NAMES[s]}" for s in sets) + " | "
       + " | ".join(f"tok/word {SET_NAMES[s]}" for s in sets) + " | mean piece chars |",
       "|---|---:|" + "---:|" * (2 * len(sets)) + "---:|"]
  for r in res:
    L.append(f"| {r['model_type']} | {r['vocab_size']} | "
             + " | ".join(_f(r[s]["chars_per_token"]) for s in sets) + " | "
             + " | ".join(_f(r[s]["fertility"]) for s in sets) + f" | "
             f"{_f(r['mean_piece_chars'], 2)} |")
  L += ["", *(f"![{p}]({p})" for p in plots if p in ("compression.png", "fertility.png")), "",
        "## Rare pieces, byte fallback, round trip", "",
        "Shares of the learned pieces (type normal: not bytes, specials or reserved pieces) "
        "used fewer than 1 / 10 / 100 times when the training split is encoded. Byte fallback "
        "= share of tokens that are UTF-8 byte pieces. Round-trip failures = documents whose "
        "decode(encode(text)) differs from the text, on every document of each set.", "",
       "| type | vocab | learned | unused | < 10 uses | < 100 uses | "
       + " | ".join(f"byte fallback {SET_NAMES[s]}" for s in sets) + " | "
       + " | ".join(f"round-trip failures {SET_NAMES[s]}" for s in sets) + " |",
       "|---|---:|---:|---:|---:|---:|" + "---:|" * (2 * len(sets))]
  for r in res:
    L.append(f"| {r['model_type']} | {r['vocab_size']} | {r['learned_pieces']} | "
             f"{_pct(r['rare']['lt1'])} | {_pct(r['rare']['lt10'])} | "
             f"{_pct(r['rare']['lt100'])} | "
             + " | ".join(f"{100 * r[s]['byte_fallback_rate']:.3f}%" for s in sets) + " | "
             + " | ".join(f"{r[s]['round_trip_failures']} / {r[s]['docs']}" for s in sets)
             + " |")
  L += ["", *(f"![{p}]({p})" for p in plots if p in ("rare_tokens.png",
                                                     "rank_frequency.png")), ""]
  L += ["## Pieces and segmentations", "",
        "Case and plural suffixes held as pieces of their own, with their uses in the "
        "training split (absent = not in the vocabulary):", "",
        "| type | vocab | " + " | ".join(analysis.SUFFIXES) + " |",
        "|---|---:|" + "---:|" * len(analysis.SUFFIXES)]
  for r in res:
    L.append(f"| {r['model_type']} | {r['vocab_size']} | "
             + " | ".join(str(r["suffix_pieces"].get(s, "–")) for s in analysis.SUFFIXES)
             + " |")
  L += ["", "Segmentations of inflected words (each preceded by a space, as in running text; "
        "`▁` marks the space, `·` separates pieces):", ""]
  types = sorted({r["model_type"] for r in res})
  vocabs = sorted({r["vocab_size"] for r in res})
  for mt in types:
    L += [f"**{mt}**", "", "| word | " + " | ".join(str(v) for v in vocabs) + " |",
          "|---|" + "---|" * len(vocabs)]
    by_v = {r["vocab_size"]: r for r in res if r["model_type"] == mt}
    for w in analysis.EXAMPLE_WORDS:
      L.append(f"| {w} | " + " | ".join("·".join(by_v[v]["segmentations"][w])
                                        for v in vocabs) + " |")
    L.append("")
  L += ["Most frequent learned pieces of 4+ characters in the training split (unigram and "
        "bpe at each vocab size, with uses):", ""]
  for r in res:
    L.append(f"- {r['model_type']} {r['vocab_size']}: " + ", ".join(
        f"`{p}` {c}" for p, c in r["top_long_pieces"][:10]))
  L.append("")
  L += render_downstream(rows, plots, {r["tokenizer_sha256"] for r in res})
  return "\n".join(L) + "\n"


def render_downstream(rows: list[dict], plots: list[str], shas: set[str]) -> list[str]:
  if not rows:
    return ["## Downstream", "", "No downstream results (run llmjax.tokenizer.downstream).", ""]
  L = ["## Downstream: the same model with different vocabularies", "",
       "Written by `python -m llmjax.tokenizer.downstream` (files `downstream_*.json` here). "
       "One model shape per config; each vocabulary trains its own tokenizer on the training "
       "split. **Budget matching:** the same training FLOPs for every vocabulary: batch and "
       "sequence length are the config's, the reference vocabulary trains the config's "
       "total_steps and vocabulary V trains round(total_steps x F(ref) / F(V)) steps, with F "
       "the training FLOPs per token of llmjax.model.flops_per_token (6 x matmul params incl. "
       "the D x V output projection, plus attention). Bigger vocabularies therefore see fewer "
       "tokens but more characters per token. Validation bits/char is the best evaluation "
       "on the full validation split (the same documents for every vocabulary); FLORES dev "
       "bits/char is llmjax.evaluate on the best checkpoint. Values are means over seeds "
       "(each seed's value in brackets).", "",
       "Train chars/tok here counts the EOS token of every document (as the training "
       "pipeline does); epochs = training tokens / tokens in the training split. "
       "'Same tokenizer' says whether the run's tokenizer (trained by the run, on the machine "
       "it ran on) is byte-identical to the one measured above.", "",
       "| config | type | vocab | seeds | steps | tokens | train FLOPs | train chars/tok | "
       "epochs | val bits/char | FLORES dev bits/char | device | same tokenizer |",
       "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
  for r in rows:
    val = _f(r["val_bpc"], 4) + (" (" + ", ".join(_f(x, 4) for x in r["val_bpc_all"]) + ")"
                                 if r["seeds"] > 1 else "")
    fl = _f(r["flores_bpc"], 4) + (" (" + ", ".join(_f(x, 4) for x in r["flores_bpc_all"])
                                   + ")" if r["seeds"] > 1 else "")
    L.append(f"| {pathlib.Path(r['config']).stem} | {r['model_type']} | {r['vocab_size']} | "
             f"{r['seeds']} | {r['steps']} | {r['tokens'] / 1e6:.2f}M | "
             f"{r['train_flops']:.3g} | {_f(r['train_chars_per_token'])} | "
             f"{r['epochs']:.1f} | {val} | {fl} | {r['device']} | "
             f"{'yes' if r['tokenizer_sha256'] in shas else 'no'} |")
  L += ["", *(f"![{p}]({p})" for p in plots if p == "downstream.png"), ""]
  L += render_choice(rows)
  return L


def _margin(best: dict, rows: list[dict]) -> str:
  rest = sorted((r for r in rows if r is not best and r["flores_bpc"] is not None),
                key=lambda r: r["flores_bpc"])
  if not rest:
    return "none (one vocabulary)"
  return (f"{rest[0]['flores_bpc'] - best['flores_bpc']:.4f} bits/char "
          f"({rest[0]['vocab_size']})")


def _spread(rows: list[dict]) -> str:
  spreads = [max(r["flores_bpc_all"]) - min(r["flores_bpc_all"]) for r in rows
             if len(r["flores_bpc_all"]) > 1]
  return f"{max(spreads):.4f}" if spreads else "unknown (one seed)"


def render_choice(rows: list[dict]) -> list[str]:
  L = ["## Choice for tatar_small", ""]
  configs = sorted({r["config"] for r in rows}, key=lambda c: "tatar_small" not in c)
  config = configs[0]
  best = choose_vocab(rows, config, "unigram")
  if best is None:
    return L + ["No FLORES results to choose from.", ""]
  same = sorted((r for r in rows if r["config"] == config and r["model_type"] == "unigram"),
                key=lambda r: r["vocab_size"])
  others = ", ".join(f"{r['vocab_size']}: {_f(r['flores_bpc'], 4)}" for r in same
                     if r is not best and r["flores_bpc"] is not None)
  best_val = min(same, key=lambda r: r["val_bpc"])
  bpe = [r for r in rows if r["config"] == config and r["model_type"] == "bpe"
         and r["flores_bpc"] is not None]
  L += [f"Rule: the unigram vocabulary with the lowest FLORES dev bits/char at "
        f"`{pathlib.Path(config).stem}` scale and equal training FLOPs, because FLORES is held "
        "out and out of domain, while the validation split is drawn from the same files as "
        "the training split (it measures in-domain fit).", "",
        f"- Chosen: **{best['vocab_size']} unigram**: FLORES dev {_f(best['flores_bpc'], 4)} "
        f"bits/char over {best['seeds']} seed(s) (others: {others}).",
        f"- Margin to the runner-up: {_margin(best, same)}; spread between seeds (largest "
        f"max - min at any vocabulary): {_spread(same)} bits/char.",
        f"- Validation split: lowest at {best_val['vocab_size']} "
        f"({_f(best_val['val_bpc'], 4)}); the chosen vocabulary has "
        f"{_f(best['val_bpc'], 4)}.",
        f"- At the chosen size the training split gets "
        f"{_f(best['train_chars_per_token'])} characters per token, so a "
        f"{best['seq_len']}-token context covers about "
        f"{best['seq_len'] * (best['train_chars_per_token'] or 0):.0f} characters."]
  for b in bpe:
    u = next((r for r in same if r["vocab_size"] == b["vocab_size"]), None)
    if u:
      L.append(f"- Model type at {b['vocab_size']}: unigram {_f(u['flores_bpc'], 4)} vs "
               f"bpe {_f(b['flores_bpc'], 4)} FLORES dev bits/char; val "
               f"{_f(u['val_bpc'], 4)} vs {_f(b['val_bpc'], 4)}.")
  L.append("")
  return L


def write_report(sweep: dict, out_dir: pathlib.Path, downstream_dir: pathlib.Path,
                 settings: dict) -> list[str]:
  """results.json, README.md and the plots in out_dir; returns the plot file names."""
  out_dir.mkdir(parents=True, exist_ok=True)
  rows = downstream_summary(load_downstream(downstream_dir))
  try:
    plots = write_plots(sweep, rows, out_dir)
  except ImportError:
    print("matplotlib missing (pip install -e '.[analysis]'): no plots")
    plots = []
  cmd = "python -m llmjax.tokenizer.sweep"  # the flags that shaped it are in results.json
  slim = {**sweep, "results": [{k: v for k, v in r.items() if k != "rank_frequency"}
                               for r in sweep["results"]],
          "flags": settings, "downstream": rows}
  atomic_write_text(out_dir / "results.json",
                    json.dumps(slim, indent=1, ensure_ascii=False) + "\n")
  atomic_write_text(out_dir / "README.md", render(sweep, rows, plots, cmd))
  return plots
