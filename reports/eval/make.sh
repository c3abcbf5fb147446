#!/usr/bin/env bash
# Re-creates reports/eval/: trains the CPU model and the random-init baseline, evaluates both,
# checks the QA benchmark for leaks and renders README.md. Run from the repository root.
# About 35-50 min of training + 20 min of evaluation on a 2-core CPU.
set -euo pipefail
SMALL=(--config=configs/tatar_small.py --config.data.batch_size=8 --config.data.seq_len=256
       --config.model.max_seq_len=256 --config.model.d_model=256 --config.model.n_layers=4
       --config.model.d_ff=704 --config.model.dtype=float32 --config.model.dropout=0.0
       --config.model.qk_norm=False
       --config.optim.warmup_steps=30 --config.data.max_val_rows=64)
python -m llmjax.train "${SMALL[@]}" --config.train.total_steps=2000 --config.train.log_every=20 \
    --config.train.eval_every=100 --config.train.checkpoint_every=100 --config.train.fewshot_every=500 \
    --config.workdir=runs/eval_small
python -m llmjax.train "${SMALL[@]}" --config.train.total_steps=0 --config.workdir=runs/eval_random
for run in eval_small eval_random; do
  label=$([ "$run" = eval_small ] && echo trained || echo random_init)
  python -m llmjax.evaluate --workdir=runs/$run --suite=all --tumlu_per_subject=20 \
      --output=reports/eval/$label.json > /dev/null
done
python -m llmjax.evals.leakcheck > reports/eval/leakcheck.json
cp runs/eval_small/metrics.jsonl reports/eval/trained_metrics.jsonl  # the training curves
python -m llmjax.evals.report --result=trained=reports/eval/trained.json \
    --result=random_init=reports/eval/random_init.json --leakcheck=reports/eval/leakcheck.json \
    --history=trained=reports/eval/trained_metrics.jsonl \
    --preamble=reports/eval/preamble.md --out=reports/eval/README.md
