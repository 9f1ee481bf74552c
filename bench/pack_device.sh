#!/usr/bin/env bash
# Prepares .device/ for the GPU machine with the benchmark entries AND the training entries (the experiments task, its
# measurement and training subprocesses, the data workers). ../shared/device/pack.sh brings Deno and the Vulkan
# loader; the entries are bundled here because the decoding library loads optional codecs that must stay external.
# Every entry lands beside the others as .device/<basename>.js, which is where lib/data/entry_url.ts
# look for them when running bundled.
#
#   bash bench/pack_device.sh [extra entry .ts files]
#
# Then, on the device tool: bash .device/enter.sh deno run -A .device/main.js --profile paper … (carry [".device"]).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash ../shared/device/pack.sh
entries=(experiments/main.ts experiments/measure.ts lib/cli/train.ts)
[ -f lib/data/data_worker.ts ] && entries+=(lib/data/data_worker.ts)
for entry in "${entries[@]}" "$@"; do
  out=".device/$(basename "${entry%.*}").js"
  "${DENO:-deno}" bundle --quiet --minify --external=@audio/decode-ape "$entry" -o "$out"
  echo "bundled $entry -> $out ($(du -h "$out" | cut -f1))" >&2
done
