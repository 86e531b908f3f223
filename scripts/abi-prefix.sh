#!/usr/bin/env bash
# Build ringmq's libzmq.so.5 (crate zmq-abi) in release mode and lay it out as an install prefix,
# the shape build systems look for: PREFIX/include/zmq.h, PREFIX/lib/libzmq.so{,.5},
# PREFIX/lib/pkgconfig/libzmq.pc. Prints the prefix.
#   usage: scripts/abi-prefix.sh [PREFIX]     (default: target/zmq-prefix)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-target/zmq-prefix}"
cargo build -q --release -p ringmq-zmq-abi >&2
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
prefix="$(cd "$prefix" && pwd)"
cp zmq-abi/include/zmq.h "$prefix/include/zmq.h"
# Copy (not link) so a later build does not change a library a running judge has loaded.
cp target/release/libzmq.so "$prefix/lib/libzmq.so.5.new"
mv -f "$prefix/lib/libzmq.so.5.new" "$prefix/lib/libzmq.so.5"
ln -sf libzmq.so.5 "$prefix/lib/libzmq.so"
version="$(sed -n 's/^#define ZMQ_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' zmq-abi/include/zmq.h | paste -sd.)"
cat > "$prefix/lib/pkgconfig/libzmq.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libzmq
Description: ringmq's libzmq.so.5 (zmq.h C ABI over ringmq)
Version: $version
Libs: -L\${libdir} -lzmq
Cflags: -I\${includedir}
PC
echo "$prefix"
