#!/usr/bin/env bash
# The Python package's check: build the sdist, build the wheel from it (so the sdist is proven
# buildable), then install the wheel into fresh virtual environments and run python/tests:
#   1. "bare": the wheel and pytest only (numpy comes with the wheel), installed and run in a
#      private mount namespace where libhdf5 (and libsz, libaec, HDF5's headers) and the Rust
#      toolchain are hidden, as on a machine that never had them: `keqv --version`, a real
#      verify, and every test that needs no Keras;
#   2. "keras": the wheel beside the Keras 3 environment (KEQV_PYTHON): every test, including
#      in-memory models and the wheel's `keqv suite` JSON against the cargo-built binary's.
# Usage: scripts/python-check.sh   (after `cargo build`; .ci/run calls it after `cargo test`)
# Environment: KEQV_PYTHON (a Python with keras, jax: default /opt/keqv-py/bin/python),
# KEQV_CARGO_BIN (the cargo-built keqv: default target/debug/keqv), KEQV_WHEEL_TARGET_DIR
# (cargo's target folder for the release build of the wheel: default target).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
unset KEQV_BIN  # the tests must run the binary the wheel installed

keras_python=${KEQV_PYTHON:-/opt/keqv-py/bin/python}
cargo_bin=$(realpath "${KEQV_CARGO_BIN:-target/debug/keqv}")
wheel_target=$(realpath -m "${KEQV_WHEEL_TARGET_DIR:-target}")
work=$repo/target/python
fail() { echo "python-check: $*" >&2; exit 1; }

[ -x "$cargo_bin" ] || fail "no cargo-built keqv at $cargo_bin to compare the wheel's with (cargo build first)"
"$keras_python" -c "import importlib.util as u; assert u.find_spec('keras') and u.find_spec('jax')" 2>/dev/null || fail "$keras_python lacks keras and jax (see .ci/run)"
# Every environment comes from the interpreter the Keras environment was made from, so that
# the "keras" environment can see its packages.
base_python=$("$keras_python" -c "import sys; print(sys._base_executable)")
"$base_python" -c "import ensurepip, venv" 2>/dev/null || fail "$base_python cannot create virtual environments (apt-get install python3-venv)"
command -v unshare >/dev/null || fail "unshare (util-linux) is needed to hide libhdf5"
[ "$(id -u)" = 0 ] || fail "hiding libhdf5 in a mount namespace needs root"

rm -rf "$work/dist" "$work/bare" "$work/keras"
mkdir -p "$work/dist"

# Tools: maturin, a CMake recent enough for HDF5's sources (Debian 12 has 3.25), and ruff.
tools=$work/tools
# ruff is pinned: its formatting may change between versions.
if ! [ -x "$tools/bin/maturin" ] || ! [ -x "$tools/bin/cmake" ] || ! [ -x "$tools/bin/ruff" ]; then
  "$base_python" -m venv "$tools"
  "$tools/bin/pip" install -q "maturin>=1.16,<2" "cmake>=3.26,<4" "ruff==0.17.6"
fi

section() { printf '\n== %s (%ss so far)\n' "$1" "$SECONDS"; }

section "lint and format of the Python package (pyproject.toml's [tool.ruff])"
"$tools/bin/ruff" check python
"$tools/bin/ruff" format --check python

section "the sdist, and the wheel built from it"
PATH="$tools/bin:$PATH" "$tools/bin/maturin" sdist --out "$work/dist"
sdist=$(ls "$work/dist"/keqv-*.tar.gz)
# The wheel is built in the unpacked sdist, so a file missing from the sdist fails here. The
# release target folder is kept, so that the dependencies are compiled once; the sdist stores
# one fixed time for every file, so they are unpacked as new (-m) for cargo to see changes.
rm -rf "$work/sdist" && mkdir -p "$work/sdist"
tar -xzmf "$sdist" -C "$work/sdist"
(cd "$work"/sdist/keqv-* && PATH="$tools/bin:$PATH" CARGO_TARGET_DIR=$wheel_target \
  "$tools/bin/maturin" build --release --locked --out "$work/dist")
wheel=$(ls "$work/dist"/keqv-*.whl)
echo "wheel: $(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB"
case "$(basename "$wheel")" in *manylinux*_x86_64.whl) ;; *) fail "not a manylinux wheel: $wheel" ;; esac

section "what the wheel's binary links"
rm -rf "$work/unpacked" && mkdir -p "$work/unpacked"
(cd "$work/unpacked" && "$tools/bin/python" -m zipfile -e "$wheel" .)
binary=$(ls "$work"/unpacked/keqv-*.data/scripts/keqv)
needed=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
echo "NEEDED: $needed"
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | libgcc_s.so.1 | ld-linux-x86-64.so.2 | libpthread.so.0 | libdl.so.2) ;;
    *) fail "the wheel's keqv needs $lib, which a machine with only Python may lack" ;;
  esac
done

section "bare: a fresh venv with only the wheel, on a machine without libhdf5 and Rust"
# Inside a private mount namespace, every libhdf5/libsz/libaec file and HDF5's header and
# library folders read as empty, and so do the Rust toolchains. The cargo-built keqv, which
# links libhdf5, must then fail to start: the proof that nothing of HDF5 is left to find.
unshare -m --propagation private bash -euo pipefail -c '
  empty=$(mktemp -d)
  for f in /usr/lib/x86_64-linux-gnu/lib{hdf5,sz,aec}* /lib/x86_64-linux-gnu/lib{hdf5,sz,aec}*; do
    [ -e "$f" ] && [ ! -d "$f" ] && mount --bind /dev/null "$f"
  done
  for d in /usr/include/hdf5 /usr/lib/x86_64-linux-gnu/hdf5 "$HOME/.cargo" "$HOME/.rustup"; do
    [ -d "$d" ] && mount --bind "$empty" "$d"
  done
  if "$1" --version >/dev/null 2>&1; then echo "libhdf5 is still reachable" >&2; exit 1; fi
  if command -v cargo >/dev/null || command -v rustc >/dev/null; then echo "Rust is still reachable" >&2; exit 1; fi
  "$2" -m venv "$3"
  "$3/bin/pip" install -q "$4" pytest
  "$3/bin/keqv" --version
  for device in cpu vulkan; do  # Vulkan is loaded at run time (dlopen), not linked
    report=$("$3/bin/keqv" verify models/tfk/c_func_skip.h5 models/k3/c_func_skip_reimpl.keras --per-layer --device $device)
    grep -E "^EQUIVALENT|^  device " <<<"$report"
  done
  "$3/bin/python" -c "import keras" 2>/dev/null && { echo "keras must not be in the bare venv" >&2; exit 1; }
  cd python/tests && "$3/bin/python" -m pytest -q -p no:cacheprovider -m "not keras and not cargo" .
' bare "$cargo_bin" "$base_python" "$work/bare" "$wheel"

section "keras: the wheel beside Keras 3, every test"
"$base_python" -m venv "$work/keras"
# The Keras environment's packages, after the venv's own (so the wheel's keqv comes first).
keras_site=$("$keras_python" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
own_site=$("$work/keras/bin/python" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
echo "$keras_site" >"$own_site/zz-keras-environment.pth"
"$work/keras/bin/pip" install -q "$wheel" pytest
(cd python/tests && KEQV_CARGO_BIN=$cargo_bin "$work/keras/bin/python" -m pytest -q -p no:cacheprovider .)

section "python-check passed"
