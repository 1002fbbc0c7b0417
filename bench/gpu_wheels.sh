#!/usr/bin/env bash
# The wheels the lent GPU machine lacks (see /work/.library/device/KINDS.md: it has torch,
# transformers, accelerate, peft, pandas, tokenizers, tabulate; not bitsandbytes), for Python 3.12
# on x86-64, into .whl/ (git-ignored), at the version requirements.txt pins.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -i '^bitsandbytes==' requirements.txt | sed 's/.*==//; s/[ ;].*//')
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "bitsandbytes==$version"
ls -la .whl
