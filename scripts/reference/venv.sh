#!/usr/bin/env bash
# Creates (once) the Python venv that the PyTorch reference scripts run in, and prints
# its python. PyPI's torch wheels for Linux are CUDA builds that refuse to import
# without their nvidia-* runtime wheels, so the full dependency set is installed
# (about 3 GB), even though everything here runs on the CPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${BERTCLS_VENV:-$root/.venv}"
stamp="$venv/.bertcls-reference-ok"
# The stamp holds the checksum of the requirements it was made from: a venv made
# from older requirements is brought up to date.
wanted="$(sha256sum "$root/scripts/reference/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  command -v python3 >/dev/null || { echo "python3 is required for the PyTorch reference" >&2; exit 1; }
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -r "$root/scripts/reference/requirements.txt" >&2
  "$venv/bin/python" -c "import torch, transformers, onnxruntime" >&2
  echo "$wanted" > "$stamp"
fi
echo "$venv/bin/python"
