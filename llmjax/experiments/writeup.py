"""The experiments report's sections, each rendered from the result files the experiment
commands wrote (every number comes from those files). The command is
llmjax.experiments.report."""

import io
import json
import pathlib

from llmjax.experiments import ablation
from llmjax.paths import atomic_write_bytes

# Measurements that need a GPU: the rows stay, with the command, until a GPU run fills them.
GPU_ONLY = [
    ("cuDNN flash attention vs XLA, tatar_small at T=2048",
     "python -m llmjax.bench --config=configs/tatar_small.py --config.data.seq_len=2048 "
     "--config.model.max_seq_len=2048 --config.model.attention_impl=cudnn  # and =xla"),
    ("bf16 vs fp32 step time, GPT-2-124M shape",
     "python -m llmjax.bench --config=configs/gpt2_124m.py --config.model.dtype=float32"),
    ("MoE / sliding-window variants at T=2048",
     "python -m llmjax.bench --config=configs/tatar_small_moe.py --config.data.seq_len=2048 "
     "--config.model.max_seq_len=2048"),
]


def _plt():
  import matplotlib  # pylint: disable=g-import-not-at-top  (optional: the plots)
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, path: pathlib.Path) -> None:
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
  atomic_write_bytes(path, buf.getvalue())
  _plt().close(fig)


def _table(header: list[str], rows: list[list]) -> list[str]:
  fmt = lambda v: "–" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
  return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
          + ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows] + [""])


def _mean_curve(runs: list[dict]) -> list[tuple[int, float]]:
  """Mean over seeds of the held FLORES curve (steps every seed has)."""
  curves = [dict(r["held_flores"]) for r in runs]
  steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
  return [(s, sum(c[s] for c in curves) / len(curves)) for s in steps]


def speedrun_section(reports: pathlib.Path, out: pathlib.Path) -> list[str]:
  results = {p.stem: json.loads(p.read_text()) for p in sorted((reports / "speedrun").glob("*.json"))}
  if not results:
    return ["## Speedrun", "", "No results yet: `python -m llmjax.experiments.speedrun`.", ""]
  target = results.get("baseline", next(iter(results.values())))["target"]
  rows = []
  for name, r in results.items():
    s = r["summary"]
    tokens = s["tokens_to_target"]
    wall = s["wall_minutes_to_target"]
    rows.append([name, r["description"], s["seeds"], f"{s['reached']}/{s['seeds']}",
                 None if tokens is None else f"{tokens / 1e6:.2f}M",
                 None if wall is None else f"{wall:.1f}", s["flores_at_best"],
                 s["flores_at_best_spread"]])
  plt = _plt()
  fig, ax = plt.subplots(figsize=(7, 4))
  for name, r in results.items():
    curve = _mean_curve(r["runs"])
    if curve:
      ax.plot([s * r["tokens_per_step"] / 1e6 for s, _ in curve], [v for _, v in curve],
              marker=".", label=name)
  ax.axhline(target, color="k", ls="--", lw=1, label=f"target {target:.3f}")
  ax.set_xlabel("training tokens (M)")
  ax.set_ylabel("FLORES dev bits/char (best-by-val checkpoint)")
  ax.legend(fontsize=7)
  _save(fig, out / "speedrun.png")
  return (["## Speedrun", "",
           f"Target: the baseline's FLORES-dev bits/char, {target:.4f}. The record log (one row "
           "per attempt, with its command) is [reports/speedrun/README.md]"
           "(../speedrun/README.md); this table is every recipe's latest result (means over "
           "seeds; spread = max - min).", ""]
          + _table(["recipe", "change", "seeds", "reached", "tokens to target",
                    "minutes to target", "FLORES dev", "spread"], rows)
          + ["![FLORES dev bits/char against training tokens](speedrun.png)", ""])


def variants_section(reports: pathlib.Path) -> list[str]:
  names = [n for n in ("half", "half_moe", "half_swa") if (reports / "speedrun" / f"{n}.json").is_file()]
  if len(names) < 2:
    return ["## MoE and sliding windows on the CPU recipe", "",
            "Not measured yet: `python -m llmjax.experiments.speedrun --recipe=half_moe` "
            "(and half, half_swa).", ""]
  rows = []
  for n in names:
    r = json.loads((reports / "speedrun" / f"{n}.json").read_text())
    s = r["summary"]
    tokens = s["tokens_to_target"]
    rows.append([n, r["description"], s["seeds"], s["flores_at_best"],
                 "not reached" if tokens is None else f"{tokens / 1e6:.2f}M",
                 f"{s['train_minutes']:.1f}"])
  return (["## MoE and sliding windows on the CPU recipe (quality per token)", "",
           "Same tokens (1000 steps of 8 x 256), same active compute per token; curves in the "
           "speedrun plot above.", ""]
          + _table(["recipe", "what", "seeds", "FLORES dev bits/char (best by val)",
                    "tokens to the baseline's target", "training minutes"], rows))


def ablations_section(reports: pathlib.Path) -> list[str]:
  out = ["## Block options (earlier ablations)", ""]
  for path in sorted((reports / "ablations").glob("*.json")):
    out += [f"`{path.name}`:", "", ablation.markdown(json.loads(path.read_text())).rstrip(), ""]
  return out


def vocabulary_section(reports: pathlib.Path) -> list[str]:
  path = reports / "tokenizer" / "results.json"
  rows = json.loads(path.read_text()).get("downstream", []) if path.is_file() else []
  if not rows:
    return []
  keep = [[r.get("config"), r.get("model_type"), r.get("vocab_size"), r.get("seeds"),
           r.get("flores_bpc"), r.get("val_bpc")] for r in rows]
  return (["## Vocabulary size at equal training FLOPs", "",
           "From reports/tokenizer (details and plots there).", ""]
          + _table(["config", "type", "vocab", "seeds", "FLORES dev bits/char", "val bits/char"],
                   keep))


def remat_section(reports: pathlib.Path, out: pathlib.Path) -> list[str]:
  path = reports / "experiments" / "remat_cpu.json"
  if not path.is_file():
    return ["## Rematerialisation", "", "Not measured yet: `python -m llmjax.experiments.remat "
            "--out=reports/experiments/remat_cpu.json`.", ""]
  r = json.loads(path.read_text())
  rows = [[x["policy"], f"{x['step_ms']:.0f}", x["peak_rss_mb"], f"{x['tokens_per_sec']:,.0f}"]
          for x in r["rows"]]
  plt = _plt()
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for x in r["rows"]:
    ax.scatter(x["step_ms"], x["peak_rss_mb"])
    ax.annotate(x["policy"], (x["step_ms"], x["peak_rss_mb"]), fontsize=8)
  ax.set_xlabel("train step (ms, median)")
  ax.set_ylabel("peak resident memory (MB)")
  _save(fig, out / "remat.png")
  return (["## Rematerialisation: peak memory against step time (CPU)", "",
           f"`{r['config']}` with {r['overrides'] or 'no overrides'}, measured by "
           "`python -m llmjax.experiments.remat` (`/usr/bin/time -v` around "
           "`python -m llmjax.bench`).", ""]
          + _table(["model.remat", "step ms", "peak RSS MB", "tokens/s"], rows)
          + ["![remat](remat.png)", ""])


def gpu_section() -> list[str]:
  return (["## Needs a GPU", "", "No GPU was available to this project's development "
           "sessions for these; each row keeps the command that measures it.", ""]
          + _table(["measurement", "command", "result"],
                   [[what, f"`{cmd}`", "not measured here"] for what, cmd in GPU_ONLY]))
