# Sourced by gpu-check.sh and gpu-bench.sh: makes the kit from scripts/gpu-kit.sh runnable here.
kit=${KEQV_KIT:-target/gpu-kit}
if [ ! -d "$kit" ] && [ -f "$kit.tar.xz" ]; then
  tar -C "$(dirname "$kit")" -xJf "$kit.tar.xz"
fi
if [ ! -x "$kit/bin/keqv" ]; then
  echo "no kit at $kit: run scripts/gpu-kit.sh on a machine with Rust, then copy target/gpu-kit.tar.xz here" >&2
  exit 2
fi
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  for f in "$kit"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# NVIDIA's container mounts ship the ICD files where the loader does not look by default.
nv=/usr/local/nvidia/share
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv/vulkan/icd.d/nvidia_icd.json" ]; then
  export VK_DRIVER_FILES="$nv/vulkan/icd.d/nvidia_icd.json"
  export __EGL_VENDOR_LIBRARY_FILENAMES="$nv/glvnd/egl_vendor.d/10_nvidia.json"
fi
export LD_LIBRARY_PATH="$PWD/$kit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
export PATH="$PWD/$kit/bin:$PATH"
# The test executables find models/ and target/release/keqv under the path they were built in.
build_root=$(cat "$kit/BUILD_ROOT")
if [ "$build_root" != "$PWD" ] && [ ! -e "$build_root" ]; then
  mkdir -p "$(dirname "$build_root")"
  ln -s "$PWD" "$build_root"
fi
mkdir -p target/release
[ "$build_root" = "$PWD" ] || cp "$kit/bin/keqv" target/release/keqv
report=${OUT:-target/gpu-report}
mkdir -p "$report"
