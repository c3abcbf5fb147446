#!/usr/bin/env bash
# Re-runs every measurement of reports/sft/README.md on this machine's CPU (about 25 minutes
# on 2 cores) and rewrites the README. From the repository root, with the development data
# at ../shared/data/tatar (or TRAIN_DIR=...):   bash reports/sft/run.sh
set -euo pipefail
export JAX_PLATFORMS=cpu
TRAIN_DIR=${TRAIN_DIR:-../shared/data/tatar/train}
RUNS=${RUNS:-runs/sft_report}
RESULTS=reports/sft/results
DATA=runs/sft_tatar_data
LIMIT=${LIMIT:-200}
mkdir -p "$RUNS" "$RESULTS"
timed() { local log=$1; shift; /usr/bin/time -v "$@" > "$log" 2>&1 || { tail -20 "$log"; exit 1; }; }

# The SFT set from the training split (leak-checked against the evaluation sets).
python -m llmjax.sft.make_set --train_dir="$TRAIN_DIR" --out="$DATA" | tee "$RESULTS/make_set.json"
cp "$DATA/manifest.json" "$RESULTS/manifest.json"

# 1. A tiny pretrained model: configs/tiny.py, 800 steps on the training split.
[ -d "$RUNS/base/best" ] || timed "$RESULTS/base.log" python -m llmjax.train \
  --config=configs/tiny.py --config.data.text_dir="$TRAIN_DIR" --config.workdir="$RUNS/base" \
  --config.train.total_steps=800 --config.train.eval_every=200 \
  --config.train.checkpoint_every=200 --config.train.log_every=50

# 2. LoRA (rank 8 on attention q/k/v/o and the MLP) and 3. full fine-tuning, 300 steps each.
SFT=(--config=configs/sft_tatar.py --config.finetune.init_from="$RUNS/base"
     --config.finetune.train_file="$DATA/train.jsonl" --config.finetune.val_file="$DATA/val.jsonl")
rm -rf "$RUNS/lora" "$RUNS/full"
timed "$RESULTS/lora.log" python -m llmjax.finetune "${SFT[@]}" --config.workdir="$RUNS/lora"
timed "$RESULTS/full.log" python -m llmjax.finetune "${SFT[@]}" --config.workdir="$RUNS/full" \
  --config.finetune.lora_rank=0 --config.optim.lr=3e-4

# 4. Answers to held-out headwords (training phrasings) and held-out phrasings, greedy.
for split in test_headwords test_phrasings; do
  for model in base lora full; do
    python -m llmjax.sft.answer --workdir="$RUNS/$model" --file="$DATA/$split.jsonl" \
      --limit="$LIMIT" --out="$RESULTS/answers_${model}_${split}.json" > /dev/null
  done
done

# 5. The adapter folded into the base: an ordinary workdir (export takes it as is).
rm -rf "$RUNS/lora_merged"
python -m llmjax.sft.merge --adapter="$RUNS/lora" --out="$RUNS/lora_merged"

# 6. A chat session (the lines below, typed in), LoRA adapter on the base.
printf '%s\n' "«китап» сүзе нәрсә аңлата?" "Ә «мәктәп» нәрсә ул?" \
  "Пароход дигән сүзнең мәгънәсен аңлат." "«алма» сүзенә аңлатма бирегез." /quit |
  python -m llmjax.chat --workdir="$RUNS/base" --adapter="$RUNS/lora" > "$RESULTS/chat.txt"

python -m llmjax.sft.report --runs="$RUNS" --results="$RESULTS" --out=reports/sft/README.md
