#!/usr/bin/env bash
# The headline runs of BENCHMARKS.md ("Headline result"), one after the other on one machine:
#   bash benchmarks/headline.sh            # about 90 min on 2 cores (run 8: 25 min, then 2.7, 11 × 4 and 4)
# 1. the default recipe (base eval, warm-up, RAPO RL, eval), timed, with peak RSS;
# 2. the RAPO ablations of the paper's Table 5, each starting from the default run's warm-up
#    adapter (adapter-sft) and evaluating only the trained policy: SFT only, RL with R only,
#    RL with G only, RL with R + G as in the paper (no D, the kit's third reward; the full
#    recipe is run 1) and RL with D only; about 3 minutes, then about 10 each;
# 3. IPO on the same warm-up and evaluation prompts (about 4 minutes);
# 4. one table over all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
R=outputs/smollm2-135m-cpu
/usr/bin/time -v python train.py 2>&1 | tee outputs-headline.log
WARM="lora.init_from=$R/adapter-sft"
python train.py recipes/smollm2-135m-cpu.yaml run_name=ablation-sft-only "stages=[eval]" "eval.models=[trained]" "$WARM"
python train.py recipes/smollm2-135m-cpu.yaml run_name=ablation-rl-r-only "stages=[rl,eval]" "eval.models=[trained]" "$WARM" "rl.reward_weights=[1.0,0.0,0.0]"
python train.py recipes/smollm2-135m-cpu.yaml run_name=ablation-rl-g-only "stages=[rl,eval]" "eval.models=[trained]" "$WARM" "rl.reward_weights=[0.0,1.0,0.0]"
python train.py recipes/smollm2-135m-cpu.yaml run_name=ablation-rl-no-d "stages=[rl,eval]" "eval.models=[trained]" "$WARM" "rl.reward_weights=[1.0,1.0]"
python train.py recipes/smollm2-135m-cpu.yaml run_name=ablation-rl-d-only "stages=[rl,eval]" "eval.models=[trained]" "$WARM" "rl.reward_weights=[0.0,0.0,1.0]"
python train.py recipes/smollm2-135m-ipo-cpu.yaml "stages=[ipo,eval]" "eval.models=[trained]" "$WARM"
python train.py compare $R outputs/ablation-sft-only outputs/ablation-rl-r-only outputs/ablation-rl-g-only \
  outputs/ablation-rl-no-d outputs/ablation-rl-d-only outputs/smollm2-135m-ipo-cpu --out outputs/headline-compare.md
