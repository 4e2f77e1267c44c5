#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh and scripts/gpu-bench.sh need on a GPU machine that has no Rust
# toolchain: the release keqv, the GPU test and bench executables, the shared libraries they load
# (libhdf5 and its dependencies) and the Vulkan/EGL loader packages. Run it here, in the repository
# root's checkout, then copy target/gpu-kit and the repository to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
kit=target/gpu-kit
rm -rf "$kit"
mkdir -p "$kit/bin" "$kit/lib" "$kit/debs"

# The executables cargo built for the named targets (not the library's own test harness).
executables() { sed -n 's/.*"target":{[^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p'; }

cargo build --release --quiet
cp target/release/keqv "$kit/bin/"
cargo test --release --no-run --message-format=json --test golden_gpu --test gpu_kernels --test gpu_metrics \
  --test gpu_faults --test verify \
  | executables | while read -r name exe; do [ "$name" = keqv ] || cp "$exe" "$kit/bin/test-$name"; done
cargo bench --no-run --message-format=json --bench kernels --bench verify \
  | executables | while read -r name exe; do [ "$name" = keqv ] || cp "$exe" "$kit/bin/bench-$name"; done
strip "$kit"/bin/*

# Every shared library outside the C runtime, so that the kit runs on another distribution.
ldd "$kit/bin/keqv" | awk '/=> \//{print $3}' | grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|libgcc_s|ld-linux[^/]*)\.so' \
  | xargs -I{} cp -L {} "$kit/lib/"

# The loaders (the GPU machine's driver brings the ICD but not always libvulkan/libEGL).
lists=$(mktemp -d)
mkdir -p "$lists/partial"
apt_opts=(-oAPT::Sandbox::User=root -oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
apt-get "${apt_opts[@]}" update -qq
(cd "$kit/debs" && apt-get "${apt_opts[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

# Where the tests were built: they find models/ and keqv through this path.
pwd > "$kit/BUILD_ROOT"
# Compressed, it travels with a copy of the repository well under 64 MiB.
tar -C target -cJf target/gpu-kit.tar.xz gpu-kit
ls -lh target/gpu-kit.tar.xz
