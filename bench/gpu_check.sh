#!/usr/bin/env bash
# The GPU check, for a machine with CUDA (under 8 minutes on one GPU):
#   1. the tests that touch devices (CUDA reading, sampling and training);
#   2. char-LSTM and recognizer training steps on the GPU against the CPU, same batch
#      (and the char-LSTM's with --precision bf16);
#   3. the ABC char-LSTM trained for GPU_MINUTES (default 3) on music21's tunes,
#      printing characters per second and validation bits per character.
#     bash bench/gpu_check.sh            (PYTHON=.venv/bin/python bash bench/gpu_check.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
MIN=${GPU_MINUTES:-3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

$PY -c "import torch, sys; ok = torch.cuda.is_available(); print('torch', torch.__version__, torch.cuda.get_device_name() if ok else 'NO CUDA'); sys.exit(0 if ok else 1)"

echo "== 1. tests that touch devices"
timeout 300 $PY -m pytest -q -rs tests/test_distributed.py tests/test_hostile_omr.py -k "cuda or device"

figures() {  # checkpoint -> "chars/s or steps/s, val figure"
  $PY - "$@" <<'PY'
import sys, torch
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
what = sys.argv[2]
if what == "char":
    info = ck["info"]
    steps = info["step"]
    cfg = info["train_config"]
    print(f"{steps * cfg['batch_size'] * cfg['seq_len'] / info['train_seconds']:,.0f} chars/s, "
          f"val_bpc {info['val_bpc']:.4f} after {steps} steps")
else:
    loop = ck["trainer_state"]["loop"]
    print(f"{loop['step'] / loop['seconds']:.2f} steps/s")
PY
}

echo "== 2. training steps, CPU against GPU"
for d in cpu cuda; do
  timeout 240 $PY -m generate.train -o "$OUT/char-$d" --device "$d" --max-pieces 1500 \
      --max-steps 30 --eval-every 1000 --batch-size 64 --seq-len 128 --val-fraction 0.02 \
      2>/dev/null >/dev/null
  echo "char-LSTM on $d: $(figures "$OUT/char-$d/latest.pt" char)"
  timeout 240 $PY -m omr.train --data datasets/sample --val-fraction 0.3 -o "$OUT/omr-$d" \
      --device "$d" --max-steps 20 --eval-every 1000 --batch-size 8 2>/dev/null >/dev/null
  echo "recognizer on $d: $(figures "$OUT/omr-$d/latest.pt" omr)"
done
timeout 240 $PY -m generate.train -o "$OUT/char-bf16" --device cuda --precision bf16 \
    --max-pieces 1500 --max-steps 30 --eval-every 1000 --batch-size 64 --seq-len 128 \
    --val-fraction 0.02 2>/dev/null >/dev/null
echo "char-LSTM on cuda, bf16: $(figures "$OUT/char-bf16/latest.pt" char)"

echo "== 3. the ABC char-LSTM for $MIN minutes on the GPU"
timeout $((MIN * 60 + 150)) $PY -m generate.train -o "$OUT/abc" --device cuda --minutes "$MIN" \
    --batch-size 128 --eval-every 500 2>/dev/null >/dev/null
echo "ABC char-LSTM: $(figures "$OUT/abc/latest.pt" char)"
