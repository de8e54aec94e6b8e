#!/usr/bin/env bash
# Builds native/scrypt-simd/scrypt.c into src/hash/scrypt-simd.wasm with Debian's clang and lld.
# Usage: native/scrypt-simd/build.sh [output.wasm]   (WIDE=n sets the wide interleave, default 8; the narrow one is 4)
# The committed .wasm is what users run; CI rebuilds it with the same compiler and compares the bytes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../../src/hash/scrypt-simd.wasm}"
clang="${CLANG:-clang}"
wide="${WIDE:-8}"
"$clang" --target=wasm32 -msimd128 -mbulk-memory -O3 -nostdlib -ffreestanding -fno-builtin \
  -Wall -Wextra -Werror -DWIDE="$wide" \
  -Wl,--no-entry -Wl,--strip-all -Wl,--initial-memory=2097152 -Wl,--max-memory=2097152 \
  -o "$out" "$here/scrypt.c"
# The compiler that made the committed bytes: the rebuild check compares only with the same compiler.
if [ -z "${1:-}" ]; then "$clang" --version | head -n 1 >"$here/BUILT_WITH"; fi
echo "built $out ($(wc -c <"$out") bytes, WIDE=$wide, $("$clang" --version | head -n 1))"
