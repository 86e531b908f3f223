# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # globals shared with the scripts that source this file
# Shared by scripts/judge-libzmq.sh and scripts/bench-abi.sh (sourced, not run).
#
# Both build programs from libzmq's source, twice: against Debian's libzmq with the source's own
# zmq.h (the baseline, "libzmq") and against ringmq's libzmq.so.5 with zmq-abi/include/zmq.h
# ("ringmq"). libzmq's source is fetched at run time with `apt-get source zeromq3` into
# target/judge/ (ignored by git); nothing of it is kept in this repository. Each library gets a
# build tree target/judge/build-LIB/ holding copies of the source's tests/, perf/ and
# external/ (so that their `#include "../include/zmq.h"` finds LIB's header in
# build-LIB/include/), a tree of links to its src/, and a platform.hpp written here.
#
# Callers set: root (the repository), judge (target/judge under it).

judge_log() { printf '%s\n' "$*" >&2; }
judge_die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 2
}

# Run a command as root: directly when we are root, else through sudo.
judge_as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo > /dev/null; then
        sudo "$@"
    else
        judge_die "need root (or sudo) for: $*"
    fi
}

# Is there a deb-src entry in apt's sources (one-line or deb822 format)?
judge_have_deb_src() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        if grep -Eqs '^[[:space:]]*(deb-src[[:space:]]|Types:.*\bdeb-src\b)' "$f"; then
            return 0
        fi
    done
    return 1
}

# Add deb-src entries mirroring the deb ones (Debian bookworm's debian.sources when present).
judge_add_deb_src() {
    local list=/etc/apt/sources.list.d/ringmq-deb-src.sources text
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        text="$(sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources)"
    else
        text="Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
    judge_log "adding deb-src entries: $list"
    printf '%s\n' "$text" | judge_as_root tee "$list" > /dev/null
}

# Make sure Debian's libzmq (the baseline) and its development files are installed.
judge_ensure_libzmq_dev() {
    # (grep reads all its input: grep -q in a pipe would fail it under pipefail.)
    if [ -f /usr/include/zmq.h ] && [ -n "$(ldconfig -p | grep -F 'libzmq.so.5 ' || true)" ]; then
        return 0
    fi
    judge_log "installing libzmq3-dev (the baseline library)"
    judge_as_root apt-get update -qq
    judge_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzmq3-dev > /dev/null
}

# Fetch libzmq's source package once into target/judge/zeromq3-src; sets judge_src to the
# unpacked tree. The version installed as libzmq5 is asked for first, so tests and baseline match.
judge_fetch_source() {
    local cache="$judge/zeromq3-src" d version
    for d in "$cache"/zeromq3-*/; do
        if [ -f "$cache/.complete" ] && [ -f "$d/tests/testutil.cpp" ]; then
            judge_src="${d%/}"
            return 0
        fi
    done
    judge_log "fetching libzmq's source (apt-get source zeromq3) into $cache"
    judge_have_deb_src || judge_add_deb_src
    judge_as_root apt-get update -qq
    if ! command -v dpkg-source > /dev/null; then
        judge_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev > /dev/null
    fi
    rm -rf "$cache" "$cache.tmp"
    mkdir -p "$cache.tmp"
    version="$(dpkg-query -W -f='${source:Version}' libzmq5 2> /dev/null || true)"
    if ! (cd "$cache.tmp" && { { [ -n "$version" ] && apt-get source -qq "zeromq3=$version"; } ||
        apt-get source -qq zeromq3; }) > "$cache.tmp.log" 2>&1; then
        cat "$cache.tmp.log" >&2
        judge_die "apt-get source zeromq3 failed"
    fi
    mv "$cache.tmp" "$cache"
    rm -f "$cache.tmp.log"
    for d in "$cache"/zeromq3-*/; do
        if [ -f "$d/tests/testutil.cpp" ]; then
            judge_src="${d%/}"
            touch "$cache/.complete"
            return 0
        fi
    done
    judge_die "no zeromq3-*/tests/testutil.cpp in $cache"
}

# The libzmq version of the fetched source, from its debian/changelog.
judge_src_version() {
    sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$judge_src/debian/changelog"
}

# Build ringmq's library and its prefix (scripts/abi-prefix.sh), unless the caller set
# ringmq_prefix already (--prefix). Cargo runs under the shared lock: another engineer builds on
# this machine too.
judge_ringmq_prefix() {
    if [ -n "${ringmq_prefix:-}" ]; then
        ringmq_prefix="$(cd "$ringmq_prefix" && pwd)"
    else
        judge_log "building ringmq's libzmq.so.5 (scripts/abi-prefix.sh, release)"
        ringmq_prefix="$(flock /tmp/ringmq-cargo.lock "$root/scripts/abi-prefix.sh" "$judge/ringmq-prefix" | tail -n 1)"
    fi
    [ -f "$ringmq_prefix/include/zmq.h" ] || judge_die "no include/zmq.h in ringmq prefix $ringmq_prefix"
    [ -e "$ringmq_prefix/lib/libzmq.so.5" ] || judge_die "no lib/libzmq.so.5 in ringmq prefix $ringmq_prefix"
}

# The library file each build is to load at run time, resolved.
judge_lib_file() {
    case "$1" in
    ringmq) readlink -f "$ringmq_prefix/lib/libzmq.so.5" ;;
    libzmq) readlink -f "$(ldconfig -p | awk '$1 == "libzmq.so.5" && /x86-64/ && !n++ { print $NF }')" ;;
    esac
}

# The environment a program of build $1 runs in (for env(1)).
judge_run_env() {
    case "$1" in
    ringmq) printf '%s\n' "LD_LIBRARY_PATH=$ringmq_prefix/lib" ;;
    libzmq) printf '%s\n' "-u" "LD_LIBRARY_PATH" ;;
    esac
}

# Check that library $2 is what build $1 means: ringmq's carries the marker ringmq_zmq_abi,
# Debian's does not.
judge_check_marker() {
    local lib="$1" file="$2"
    local exports
    exports="$(nm -D --defined-only "$file" 2> /dev/null | awk '{ print $NF }')"
    if grep -qx ringmq_zmq_abi <<< "$exports"; then
        [ "$lib" = ringmq ] || judge_die "$file exports ringmq_zmq_abi: it is ringmq's, not libzmq"
    else
        [ "$lib" = libzmq ] || judge_die "$file lacks ringmq_zmq_abi: it is not ringmq's library"
    fi
}

# Check that program $2 of build $1, run as we run it, loads the intended library.
judge_check_loads() {
    local lib="$1" prog="$2" want got
    want="$(judge_lib_file "$lib")"
    local envs
    mapfile -t envs < <(judge_run_env "$lib")
    got="$(env "${envs[@]}" ldd "$prog" | awk '$1 == "libzmq.so.5" { print $3 }')"
    got="$(readlink -f "$got" 2> /dev/null || true)"
    [ "$got" = "$want" ] || judge_die "$prog would load '${got:-nothing}' as libzmq.so.5, not $want"
}

# Which zmq_has() capabilities a build's platform.hpp claims: for Debian's libzmq what its
# zmq_has() answers (its build's configuration); for ringmq what it is meant to have.
judge_capabilities() {
    case "$1" in
    ringmq) echo "ipc curve" ;;
    libzmq)
        local probe="$judge/has-probe"
        if [ ! -x "$probe" ]; then
            mkdir -p "$judge"
            cat > "$probe.c" << 'C'
#include <stdio.h>
#include <zmq.h>
int main (void)
{
    const char *names[] = {"ipc", "pgm", "tipc", "norm", "curve", "gssapi", "vmci", NULL};
    for (int i = 0; names[i]; i++)
        if (zmq_has (names[i]))
            printf ("%s ", names[i]);
    printf ("\n");
    return 0;
}
C
            gcc -std=c99 -o "$probe" "$probe.c" -lzmq || judge_die "cannot build $probe"
        fi
        env -u LD_LIBRARY_PATH "$probe"
        ;;
    esac
}

# Write $2 to file $1 only when it differs, so make sees no change when there is none.
judge_write_if_changed() {
    local file="$1" text="$2"
    if [ ! -f "$file" ] || [ "$(cat "$file")" != "$text" ]; then
        printf '%s\n' "$text" > "$file"
    fi
}

# Lay out the build tree for library $1 (ringmq|libzmq) with header $2; sets judge_tree.
judge_prepare_tree() {
    local lib="$1" header="$2" tree="$judge/build-$1" caps cap defines=""
    mkdir -p "$tree"
    if [ "$(cat "$tree/.source" 2> /dev/null)" != "$judge_src" ]; then
        rm -rf "$tree"
        mkdir -p "$tree"
        cp -a "$judge_src/tests" "$judge_src/perf" "$judge_src/external" "$tree/"
        # Links, not a link: from build-LIB/src/x.hpp, "../include/zmq.h" is LIB's header too.
        cp -as "$judge_src/src" "$tree/src"
        printf '%s\n' "$judge_src" > "$tree/.source"
    fi
    mkdir -p "$tree/include" "$tree/platform" "$tree/obj" "$tree/bin" "$tree/log"
    cmp -s "$header" "$tree/include/zmq.h" || cp "$header" "$tree/include/zmq.h"

    caps="$(judge_capabilities "$lib")"
    for cap in $caps; do
        case "$cap" in
        ipc) defines+=$'\n#define ZMQ_HAVE_IPC 1' ;;
        pgm) defines+=$'\n#define ZMQ_HAVE_OPENPGM 1' ;;
        tipc) defines+=$'\n#define ZMQ_HAVE_TIPC 1' ;;
        norm) defines+=$'\n#define ZMQ_HAVE_NORM 1' ;;
        curve) defines+=$'\n#define ZMQ_HAVE_CURVE 1' ;;
        gssapi) defines+=$'\n#define HAVE_LIBGSSAPI_KRB5 1' ;;
        vmci) defines+=$'\n#define ZMQ_HAVE_VMCI 1' ;;
        esac
    done
    # Our own minimal stand-in for the platform.hpp that libzmq's configure generates: only the
    # facts its tests and perf programs test for. ZMQ_USE_EPOLL and the like are left out on
    # purpose: libzmq's configure does not define them either (src/poller.hpp derives them), and
    # test_ctx_options does not compile with them.
    judge_write_if_changed "$tree/platform/platform.hpp" "/* Written by ringmq's scripts/judge/common.sh for building libzmq's tests
   against '$lib' (capabilities: ${caps% }). */
#ifndef RINGMQ_JUDGE_PLATFORM_HPP
#define RINGMQ_JUDGE_PLATFORM_HPP
#define ZMQ_HAVE_LINUX 1
#define ZMQ_HAVE_SO_PEERCRED 1
#define ZMQ_HAVE_UIO 1
#define HAVE_FORK 1
#define HAVE_MKDTEMP 1$defines
#endif"
    judge_tree="$tree"
}

# Write the build tree's Makefile (make -k -jN in it builds what is asked): the Unity harness and
# tests/testutil*.cpp once into archives, as libzmq's own build does, each tests/NAME.cpp into
# bin/NAME and each perf/NAME.cpp into pbin/NAME, linked with -lzmq from $2 (empty: the
# system's). Logs: log/NAME.compile.log, log/NAME.link.log. Rebuilt when the header, the
# platform.hpp or the library ($3) changes.
judge_write_makefile() {
    local tree="$1" libdir="$2" libfile="$3" ldflags=""
    [ -n "$libdir" ] && ldflags="-L$libdir"
    judge_write_if_changed "$tree/Makefile" "# Written by ringmq's scripts/judge/common.sh; rewritten on every run.
CC := gcc
CXX := g++
CPPFLAGS := -DZMQ_CUSTOM_PLATFORM_HPP -Iplatform -Iexternal/unity \\
	-DUNITY_USE_COMMAND_LINE_ARGS -DUNITY_EXCLUDE_FLOAT -D_REENTRANT -D_THREAD_SAFE
CFLAGS := -O0 -g -w
CXXFLAGS := -std=gnu++11 -O0 -g -w
PERFFLAGS := -std=gnu++11 -O2 -w
LDFLAGS := $ldflags
LDLIBS := -lzmq -lpthread
LIBFILE := $libfile
HARNESS := obj/libtestutil.a obj/libunity.a
# test_security_curve drives raw CURVE handshakes with libzmq's own helpers from src/; they are
# compiled into the test (hidden, so they do not stand in for the library's libsodium).
INTERNALS := obj/internal_random.o obj/internal_clock.o obj/internal_err.o obj/internal_tweetnacl.o

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: harness

harness: \$(HARNESS)

obj/%.o: tests/%.cpp
	@rm -f \$@ bin/\$*
	@\$(CXX) \$(CPPFLAGS) \$(CXXFLAGS) -MMD -MP -c \$< -o \$@ > log/\$*.compile.log 2>&1

obj/unity.o: external/unity/unity.c
	@\$(CC) \$(CPPFLAGS) \$(CFLAGS) -MMD -MP -c \$< -o \$@ > log/unity.compile.log 2>&1

obj/internal_%.o: src/%.cpp
	@\$(CXX) \$(CPPFLAGS) \$(CXXFLAGS) -DZMQ_USE_TWEETNACL -fvisibility=hidden -MMD -MP -c \$< -o \$@ > log/internal_\$*.compile.log 2>&1

obj/internal_%.o: src/%.c
	@\$(CC) \$(CPPFLAGS) \$(CFLAGS) -DZMQ_USE_TWEETNACL -fvisibility=hidden -MMD -MP -c \$< -o \$@ > log/internal_\$*.compile.log 2>&1

obj/libtestutil.a: obj/testutil.o obj/testutil_monitoring.o obj/testutil_security.o obj/testutil_unity.o
	@rm -f \$@
	@ar rcs \$@ \$^

obj/libunity.a: obj/unity.o
	@rm -f \$@
	@ar rcs \$@ \$^

bin/test_security_curve: \$(INTERNALS)

bin/%: obj/%.o \$(HARNESS) \$(LIBFILE)
	@rm -f \$@
	@\$(CXX) \$(filter %.o,\$^) \$(HARNESS) \$(LDFLAGS) \$(LDLIBS) -o \$@ > log/\$*.link.log 2>&1

obj/perf_%.o: perf/%.cpp
	@rm -f \$@ pbin/\$*
	@\$(CXX) \$(CPPFLAGS) \$(PERFFLAGS) -MMD -MP -c \$< -o \$@ > log/perf_\$*.compile.log 2>&1

pbin/%: obj/perf_%.o \$(LIBFILE)
	@mkdir -p pbin
	@rm -f \$@
	@\$(CXX) \$< \$(LDFLAGS) \$(LDLIBS) -o \$@ > log/perf_\$*.link.log 2>&1

-include \$(wildcard obj/*.d)"
}

# The first error of a failed build step's log, on one line: "FILE:LINE: message".
judge_first_error() {
    local log="$1" line
    line="$(grep -m1 -E 'error:|undefined reference' "$log" 2> /dev/null || true)"
    if [ -z "$line" ]; then
        line="$(grep -m1 -v '^[[:space:]]*$' "$log" 2> /dev/null || true)"
    fi
    # Drop directories and the column: build-LIB/tests/test_x.cpp:12:34: error: ...
    line="$(printf '%s' "$line" | sed -E 's#^([^: ]*/)?([^/: ]+):([0-9]+):([0-9]+:)? *(fatal )?error: *#\2:\3: #; s#^/usr/bin/ld: ##')"
    printf '%s' "${line:0:140}"
}

# Symbols named in a link log's "undefined reference to `X'" lines, one a line, sorted, unique.
judge_undefined_symbols() {
    sed -n "s/.*undefined reference to \`\\([^']*\\)'.*/\\1/p" "$1" 2> /dev/null | sort -u
}
