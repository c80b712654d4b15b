#!/usr/bin/env bash
# Run meshportal's tests and a short benchmark as aarch64 code under qemu user-mode
# emulation, with an arm64 Debian sysroot and aarch64 wheels. Proof that the code
# and every dependency run on aarch64; emulated speed is NOT a Pi's speed.
#   bench/aarch64/run.sh            # build (or reuse) the cached sysroot, run tests
# Cache: $MESHPORTAL_AARCH64_CACHE (default /var/cache/meshportal/aarch64-sysroot),
# keyed by a hash of debs.txt, wheels.txt and this script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
started=$(date +%s)
cache_base=${MESHPORTAL_AARCH64_CACHE:-/var/cache/meshportal/aarch64-sysroot}
key=$(cat "$here/debs.txt" "$here/wheels.txt" "$here/run.sh" | sha256sum | cut -c1-16)
sysroot="$cache_base/$key"
host_python=${PYTHON:-python3}

if ! command -v qemu-aarch64-static >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

if [ ! -f "$sysroot/.complete" ]; then
    rm -rf "$sysroot" && mkdir -p "$sysroot"
    work=$(mktemp -d)
    # A private apt configuration for arm64: the host's dpkg and apt state are untouched.
    mkdir -p "$work/etc/apt/sources.list.d" "$work/etc/apt/preferences.d" "$work/state/lists/partial" "$work/cache/archives/partial" "$work/debs"
    . /etc/os-release
    echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $VERSION_CODENAME main" \
        > "$work/etc/apt/sources.list"
    aptopts=(-o "APT::Architecture=arm64" -o "APT::Architectures=arm64"
             -o "Dir::Etc=$work/etc/apt" -o "Dir::State=$work/state" -o "Dir::Cache=$work/cache"
             -o "Dir::State::status=/dev/null" -o "Debug::NoLocking=1")
    apt-get "${aptopts[@]}" update -qq
    (cd "$work/debs" && xargs apt-get "${aptopts[@]}" download -qq < "$here/debs.txt")
    for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
    # Wheels for aarch64 (several manylinux tags: some projects ship only newer ones).
    site="$sysroot/opt/site-packages"
    mkdir -p "$site" "$work/wheels"
    "$host_python" -m pip download -q --dest "$work/wheels" --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64 \
        -r "$here/wheels.txt" 2> >(grep -v "is ignored: it is neither" >&2)
    for whl in "$work/wheels"/*.whl; do "$host_python" -m zipfile -e "$whl" "$site"; done
    rm -rf "$work"
    touch "$sysroot/.complete"
    echo "aarch64: sysroot built in $(( $(date +%s) - started )) s at $sysroot"
fi

# The kernel cannot exec an aarch64 binary here (no binfmt registration), so a test
# that starts a child Python uses this command instead of sys.executable.
export MESHPORTAL_CHILD_PYTHON="qemu-aarch64-static -L $sysroot $sysroot/usr/bin/python3.11"
py() {
    QEMU_LD_PREFIX="$sysroot" PYTHONPATH="$root:$sysroot/opt/site-packages" \
        PYTHONDONTWRITEBYTECODE=1 $MESHPORTAL_CHILD_PYTHON "$@"
}
cd "$root"
py -c 'import platform; print("aarch64 python", platform.machine(), platform.python_version())'
py -c 'import cryptography.hazmat.primitives.asymmetric.ed25519 as e, msgpack, uvloop, aiohttp, aiosqlite, zeroconf, nh3, jinja2, markdown_it, babel; e.Ed25519PrivateKey.generate(); print("aarch64: every runtime dependency imports")'
# The sync test suite (and the store and identity tests), less the tests marked slow:
# those replay whole editing traces, minutes each under emulation, and the same code
# paths run in the faster tests. CI's time budget for this step is 10 minutes.
tests=${MESHPORTAL_AARCH64_TESTS:-"tests/sync tests/test_store.py tests/test_identity.py"}
# shellcheck disable=SC2086
py -m pytest -q -p no:cacheprovider -m "not slow" $tests
# Emulated timings go to their own file, never over the host's figures.
py bench/pi_budget.py --quick --no-callgrind --out bench/results/pi_budget_aarch64_emulated.json
echo "aarch64: done in $(( $(date +%s) - started )) s"
