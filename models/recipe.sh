#!/usr/bin/env bash
# The recipe that made the shipped model family (models/base, models/sibling): generate the corpus, then pre-train
# both models from random initialisation on the same tokens, one CPU thread each, side by side.
# Usage: models/recipe.sh [out=models] [tokens=5000000]
# Deterministic: the same seed gives the same weights on the same machine (tests/LoRAM.Tests/Training/PretrainCommandTests.cs).
set -euo pipefail
OUT=${1:-models}
TOKENS=${2:-5000000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=$(mktemp -d /tmp/loram-data.XXXXXX)

dotnet build "$HERE/src/LoRAM/Cli/LoRAM.Cli.csproj" -c Release -v q -nologo >/dev/null
LORAM="$HERE/src/LoRAM/Cli/bin/Release/net10.0/loram"

# 8 M characters, so that 5 M training tokens are less than one pass over the corpus. The pipeline's calibration and
# alignment text starts after them (DefaultModels.PretrainingCorpusChars, src/LoRAM/Defaults/DefaultModels.cs): change
# both together (tests/LoRAM.Tests/Data/ShippedModelsTests.cs checks they agree).
"$LORAM" data --out "$DATA" --seed 1 --corpus-chars 8000000

pids=()
for model in base sibling; do
  mkdir -p "$OUT/$model"
  LORAM_THREADS=1 "$LORAM" pretrain --config "$model" --data "$DATA/corpus.txt" --tokens "$TOKENS" \
      --out "$OUT/$model" --dtype bf16 --seed 1 --eval-every 200 --eval-sequences 32 \
      > "$OUT/$model/pretrain.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

for model in base sibling; do
  rm -rf "$OUT/$model/checkpoints"           # resumable state, not shipped
  tail -n 3 "$OUT/$model/pretrain.log"
done
