#!/usr/bin/env bash
# RL variants on the tune prompts only (BENCHMARKS.md, "what was tried"):
#   python benchmarks/make_tune_harmful.py                      # once: outputs/tune/harmful_tune.jsonl
#   python train.py run_name=tune-sft "stages=[sft]"             # once: the shared warm-up
#   bash benchmarks/tune_rl.sh NAME [key=value ...]              # RL from that warm-up, then eval
#   INIT=outputs/tune-sft-e2/adapter bash benchmarks/tune_rl.sh NAME ...   # from another warm-up
#   bash benchmarks/tune_rl.sh NAME "stages=[eval]"              # a warm-up alone, evaluated
# The eval reads overrefusal_tune (never overrefusal_test), the 40 HarmBench prompts and 20 of them
# in base64; no MMLU. Results: outputs/tune-NAME/eval/report.md and outputs/tune-NAME/rollouts.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
TUNE=outputs/tune/harmful_tune.jsonl
python train.py recipes/smollm2-135m-cpu.yaml run_name="tune-$name" "stages=[rl,eval]" "eval.models=[trained]" \
  "lora.init_from=${INIT:-outputs/tune-sft/adapter}" eval.utility_count=0 \
  "eval.sources=[{name: overrefusal_tune}, {name: file, path: $TUNE}, {name: file, path: $TUNE, count: 20, wrap: encoded}]" \
  "$@"
