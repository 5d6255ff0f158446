#!/usr/bin/env bash
# Builds a self-contained linux-x64 bench (the GPU machine has no .NET SDK) and packs it as
# .publish/bench.tar.xz, small enough to carry. On the GPU machine:
#   tar -xJf .publish/bench.tar.xz -C /tmp && /tmp/bench/LoRAM.Bench ilgpu-check --device cuda
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .publish/bench && mkdir -p .publish
dotnet publish bench/LoRAM.Bench.csproj -c Release -r linux-x64 --self-contained -o .publish/bench -v quiet
tar -C .publish -cf - bench | xz -9 -T2 > .publish/bench.tar.xz
ls -l .publish/bench.tar.xz
