#!/usr/bin/env bash
# The full text-to-music training recipe (bench/audio_configs/soundfont_24k.toml: 6,000 steps of
# batch 32 on a pool of 6,000 clips rendered through the General MIDI soundfont at 24 kHz, with
# cross-attention at the fine levels), on both cores: about 76 minutes from nothing on an idle
# 2-core machine at the usual speed, about 73 now that the pool renders in one worker a thread
# (one thread would take about two hours); then its parts model
# (bench/audio_configs/soundfont_24k_parts.toml: the whole-clip model fine-tuned for 2,000 steps
# on 3,600 clips, 70% of them a lead alone or a band alone, with the key grid; 22-29 minutes
# more, by the machine's speed), published in its parts/ folder: it makes the prompts that ask a
# genre for a lead its clips never played. Run as resumable chunks of at most CHUNK_MINUTES
# each, so it can share a machine and survive interruptions: run this script again and it carries
# on from the last saved state. When the last chunk finishes, the models are published as the
# shipped checkpoint and evaluated.
#
#   bash bench/train_audio.sh                     # from the repository root
#   RUN=runs/audio THREADS=1 CHUNK_MINUTES=9 bash bench/train_audio.sh
#   CONFIG=bench/audio_configs/patch_4x8.toml RUN=runs/patch PUBLISH=runs/patch/published \
#     PARTS_CONFIG= bash bench/train_audio.sh     # an experiment's settings (TOML), no parts model
#   CONFIG= PARTS_CONFIG= bash bench/train_audio.sh   # the synthesiser's pool (the first model)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/audio}
THREADS=${THREADS:-2}
CHUNK_MINUTES=${CHUNK_MINUTES:-9}
PUBLISH=${PUBLISH:-audio_gen/checkpoints/default}
SONGSPACE=${SONGSPACE:-.venv/bin/songspace}
CONFIG=${CONFIG-bench/audio_configs/soundfont_24k.toml}
PARTS_RUN=${PARTS_RUN:-$RUN-parts}
PARTS_CONFIG=${PARTS_CONFIG-bench/audio_configs/soundfont_24k_parts.toml}

train_until_finished() {  # run folder, publish folder, config (may be empty), more flags
  while true; do
    result=$("$SONGSPACE" audio train --run "$1" --max-minutes "$CHUNK_MINUTES" \
      --threads "$THREADS" --publish "$2" ${3:+--config "$3"} "${@:4}" --json)
    echo "$result"
    if grep -q '"finished": true' <<<"$result"; then
      break
    fi
  done
}

# The whole-clip model first: publishing it replaces the folder, parts/ included.
train_until_finished "$RUN" "$PUBLISH" "$CONFIG"
if [ -n "$PARTS_CONFIG" ]; then
  # fine-tuned from the whole-clip model just published (its weights, before the parts)
  train_until_finished "$PARTS_RUN" "$PUBLISH/parts" "$PARTS_CONFIG" --init-from "$PUBLISH"
fi

"$SONGSPACE" audio evaluate --model "$PUBLISH" --out bench/results/audio_eval --threads "$THREADS"
.venv/bin/python bench/generate_speed.py --model "$PUBLISH"
