#!/usr/bin/env bash
# Judge: pyzmq's own test suite against ringmq's libzmq.so.5, with real libzmq as the baseline.
#
# Fetches pyzmq 27.x's source distribution from PyPI (never a wheel: wheels carry their own libzmq),
# builds it twice, once against Debian's libzmq 4.3.4 and once against ringmq's library (crate
# zmq-abi, laid out by scripts/abi-prefix.sh), runs the sdist's tests/ with pytest for each and
# prints a markdown comparison: counts per library and the tests that pass on libzmq but not on
# ringmq (the goal: none). Nothing of pyzmq lives in this repository; all of it is fetched into
# target/judge/ at run time.
#
#   usage: scripts/judge-pyzmq.sh [--lib ringmq|libzmq|both] [-k EXPR] [--timeout S]
#                                 [--suite-timeout S] [--rebuild] [--refresh] [--out PATH] [PATH]
#
#   --lib            which library to build and test (default both). Testing one library compares
#                    it with the other's results from an earlier run, when there are some.
#   -k EXPR          passed to pytest (select tests by name)
#   --timeout S      per-test limit (default 60): a test still running then is recorded as
#                    "timeout", its pytest process is ended and the run resumes after it
#   --suite-timeout S  limit for one library's whole test run (default 900); tests not reached
#                    by then are "not run"
#   --rebuild        rebuild pyzmq even when the cached build is up to date
#   --refresh        download the newest pyzmq 27.x sdist even when one is cached
#   --out PATH, PATH where the markdown table goes (default target/judge/pyzmq-table.md)
#
# Layout: target/judge/pyzmq/{dl,src} the sdist, prefix-{libzmq,ringmq} the two install prefixes,
# build-{libzmq,ringmq} the cmake build dirs, logs/ (build, import, pytest), results-LIB.jsonl
# (one line per test event), junit/LIB-N.xml (pytest's junit xml, one per pytest process).
#
# Environment: PYTHON (default python3.11, else python3), LIBZMQ_HEADER (default
# /usr/include/zmq.h) and LIBZMQ_SO (default: the libzmq.so the C compiler finds) for the baseline.
#
# Crashes and hangs are part of the result, not the end of it: a small pytest plugin (written
# into target/judge/pyzmq/plugin/ by this script) logs every test's start and outcome to a
# JSON-lines file as it goes, and when a pytest process dies (signal) or a test outlives --timeout,
# the test it was in is recorded as crashed/timeout and pytest is started again on the tests not
# yet run. (Not pytest-timeout: pyzmq's test cases arm SIGALRM themselves, 60 s, which defeats its
# signal method, and its thread method ends the process without recording which test hung.)
# The environment's CI variable is passed through: pyzmq skips its 2 GiB test_large_send when set.
#
# Exit status: 0 when the judge ran (whatever the table says); non-zero only when the judge itself
# is broken (no sdist, no Python, the baseline does not build, or a build loaded the wrong libzmq).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
# Everything of this judge lives in target/judge/pyzmq/ (other judges share target/judge/), except
# the venvs target/judge/pyzmq-venv-{libzmq,ringmq} and the default table target/judge/pyzmq-table.md.
TJ="$ROOT/target/judge"
J="$TJ/pyzmq"

LIBS=both
KEXPR=""
TEST_TIMEOUT=60
SUITE_TIMEOUT=900
REBUILD=0
REFRESH=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --lib) LIBS="${2:?--lib needs ringmq|libzmq|both}"; shift 2 ;;
    --lib=*) LIBS="${1#*=}"; shift ;;
    -k) KEXPR="${2:?-k needs an expression}"; shift 2 ;;
    --timeout) TEST_TIMEOUT="${2:?}"; shift 2 ;;
    --suite-timeout) SUITE_TIMEOUT="${2:?}"; shift 2 ;;
    --rebuild) REBUILD=1; shift ;;
    --refresh) REFRESH=1; shift ;;
    --out) OUT="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "judge-pyzmq: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) OUT="$1"; shift ;;
  esac
done
case "$LIBS" in
  both) LIBS="libzmq ringmq" ;;
  libzmq|ringmq) ;;
  *) echo "judge-pyzmq: --lib must be ringmq, libzmq or both" >&2; exit 2 ;;
esac
OUT="${OUT:-$TJ/pyzmq-table.md}"

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
fi
command -v "$PY" >/dev/null || { echo "judge-pyzmq: no $PY" >&2; exit 2; }

mkdir -p "$J/logs" "$J/state" "$J/junit" "$J/dl" "$J/src" "$J/plugin"
log() { printf '[judge-pyzmq %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "BROKEN: $*"; exit 2; }
now() { date +%s; }
# state files: one "key<TAB>value" per line, read by the summary
setstate() { printf '%s\t%s\n' "$2" "$(printf '%s' "$3" | tr '\t\n' '  ')" >>"$J/state/$1.tsv"; }

# Test-time packages: pytest and the plugins pyzmq's tests use (asyncio mode, flaky reruns),
# tornado (ioloop/zmqstream tests), gevent (zmq.green: edge-triggered ZMQ_FD), numpy (buffer
# tests), cython + setuptools (the runtime-Cython test). Build tools go into the same venv so pyzmq
# builds without build isolation (reruns need no network, and the cmake build dir is reused).
# Left out: mypy (typing of pyzmq itself, slow), cffi (PyPy's backend), paramiko/pexpect (ssh).
TEST_DEPS=(pytest "pytest-asyncio>=0.24" pytest-rerunfailures tornado gevent numpy "cython>=3.0" setuptools)
BUILD_DEPS=("scikit-build-core>=0.10" "cmake>=3.15" ninja packaging)
BUILD_CFLAGS="-Werror=implicit-function-declaration -Werror=int-conversion"

# --- pyzmq's sdist ---------------------------------------------------------------------------------
newest_sdist() { { ls -1v "$J/dl"/pyzmq-27.*.tar.gz 2>/dev/null || true; } | tail -n1; }
SDIST="$(newest_sdist)"
if [ -z "$SDIST" ] || [ "$REFRESH" = 1 ]; then
  log "downloading the pyzmq 27.x sdist from PyPI"
  # --no-binary pyzmq (not :all:): pip prepares the sdist's metadata, and :all: would build its
  # build tools (cmake, ninja) from source too.
  "$PY" -m pip download -q --no-deps --no-binary pyzmq 'pyzmq>=27,<28' -d "$J/dl" >&2 ||
    die "pip download of the pyzmq sdist failed"
  SDIST="$(newest_sdist)"
fi
[ -n "$SDIST" ] || die "no pyzmq-27.*.tar.gz in $J/dl"
PYZMQ_V="$(basename "$SDIST" .tar.gz)"; PYZMQ_V="${PYZMQ_V#pyzmq-}"
SRC="$J/src/pyzmq-$PYZMQ_V"
if [ ! -f "$SRC/.judge-extracted" ]; then
  rm -rf "$SRC"
  tar -xzf "$SDIST" -C "$J/src"
  [ -d "$SRC/tests" ] || die "sdist $SDIST has no tests/"
  touch "$SRC/.judge-extracted"
fi
log "pyzmq $PYZMQ_V from $(basename "$SDIST")"

# --- the pytest plugin: incremental outcome log, resume after crash, per-test watchdog ------------
cat >"$J/plugin/judge_plugin.py" <<'PLUGIN'
"""ringmq judge: logs each test's start and outcome as JSON lines (so a crash loses nothing),
deselects tests a previous run of the same session already started, and ends the process when one
test runs past JUDGE_TEST_TIMEOUT seconds (recording it as a timeout)."""
import faulthandler, json, os, sys, threading, time

LOG = os.environ["JUDGE_LOG"]
RUN = int(os.environ.get("JUDGE_RUN", "0"))
LIMIT = float(os.environ.get("JUDGE_TEST_TIMEOUT", "60"))
_out = open(LOG, "a", buffering=1)
_lock = threading.Lock()
_cur = {"id": None, "t": 0.0}
_phases = {}
# pytest captures fd 2 during tests; keep the real stderr (this module is imported before
# capturing starts) for the watchdog's stack dump.
_stderr = os.fdopen(os.dup(2), "w")
_main = threading.main_thread().ident


def _emit(**rec):
    rec["run"] = RUN
    with _lock:
        _out.write(json.dumps(rec) + "\n")
        _out.flush()


def _seen():
    seen = set()
    try:
        with open(LOG) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("ev") in ("start", "result"):
                    seen.add(rec["id"])
    except FileNotFoundError:
        pass
    return seen


def _watchdog():
    while True:
        time.sleep(1)
        tid, t0 = _cur["id"], _cur["t"]
        if tid is not None and time.monotonic() - t0 > LIMIT:
            where = []
            frame = sys._current_frames().get(_main)
            while frame is not None and len(where) < 40:
                code = frame.f_code
                where.append(f"{os.path.basename(code.co_filename)}:{frame.f_lineno} {code.co_name}")
                frame = frame.f_back
            # innermost frames first, up to the test's own
            _emit(ev="hang", id=tid, limit=LIMIT, msg=" < ".join(where[:4]))
            _stderr.write(f"\njudge: {tid} still running after {LIMIT:.0f}s; stacks:\n")
            _stderr.flush()
            faulthandler.dump_traceback(file=_stderr, all_threads=True)
            _stderr.flush()
            os._exit(86)


def pytest_configure(config):
    import zmq  # noqa: F401  (the session below records which library was loaded)

    threading.Thread(target=_watchdog, name="judge-watchdog", daemon=True).start()


def pytest_sessionstart(session):
    import ctypes, zmq
    from zmq.backend.cython import _zmq

    loaded = ""
    with open("/proc/self/maps") as f:
        for line in f:
            if "libzmq" in line:
                loaded = line.split()[-1]
                break
    marker = None
    try:
        # const char ringmq_zmq_abi[]: an array, so its address is the string
        marker = ctypes.string_at(ctypes.addressof(
            ctypes.c_char.in_dll(ctypes.CDLL(_zmq.__file__), "ringmq_zmq_abi"))).decode()
    except (ValueError, OSError):
        pass
    _emit(ev="session", zmq=zmq.__file__, ext=_zmq.__file__, libzmq=loaded,
          zmq_version=zmq.zmq_version(), pyzmq_version=zmq.pyzmq_version(), marker=marker)
    if not zmq.__file__.startswith(sys.prefix + os.sep):
        import pytest
        pytest.exit(f"judge: imported zmq from {zmq.__file__}, not from the venv {sys.prefix}", 3)


def pytest_collection_modifyitems(session, config, items):
    seen = _seen()
    if not seen:
        return
    keep, drop = [], []
    for item in items:
        (drop if item.nodeid in seen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collectreport(report):
    # a module that fails to import is an error; one skipped as a whole (importorskip) a skip
    if report.failed or report.skipped:
        _emit(ev="result", id=report.nodeid or "<collection>", when="collect", dur=0.0,
              outcome="error" if report.failed else "skipped", msg=_short(report))


def pytest_runtest_logstart(nodeid, location):
    _phases[nodeid] = {}
    _emit(ev="start", id=nodeid)
    _cur["t"] = time.monotonic()
    _cur["id"] = nodeid


def pytest_runtest_logreport(report):
    if report.outcome == "rerun":
        _phases.setdefault(report.nodeid, {})["reruns"] = _phases.get(report.nodeid, {}).get("reruns", 0) + 1
        return
    _phases.setdefault(report.nodeid, {})[report.when] = report


def _short(report, n=400):
    text = ""
    lr = getattr(report, "longrepr", None)
    if lr is not None:
        crash = getattr(lr, "reprcrash", None)
        if crash is not None:
            text = crash.message
        elif isinstance(lr, tuple) and len(lr) == 3:
            text = str(lr[2])
        else:
            text = str(lr).strip().splitlines()[-1] if str(lr).strip() else ""
    text = " ".join(text.split())
    return text[:n]


def pytest_runtest_logfinish(nodeid, location):
    _cur["id"] = None
    ph = _phases.pop(nodeid, {})
    outcome, msg, dur = "passed", "", 0.0
    for when in ("setup", "call", "teardown"):
        r = ph.get(when)
        if r is None:
            continue
        dur += getattr(r, "duration", 0.0)
        xfail = hasattr(r, "wasxfail")
        if r.failed:
            if outcome in ("passed", "skipped"):
                outcome = "failed" if when == "call" else "error"
                msg = f"[{when}] {_short(r)}"
        elif r.skipped and outcome == "passed":
            outcome = "xfailed" if xfail else "skipped"
            msg = _short(r)
        elif r.passed and xfail and when == "call":
            outcome = "xpassed"
    if "call" not in ph and outcome == "passed" and "setup" not in ph:
        outcome, msg = "error", "no report"
    _emit(ev="result", id=nodeid, outcome=outcome, msg=msg, dur=round(dur, 3),
          reruns=ph.get("reruns", 0))


def pytest_sessionfinish(session, exitstatus):
    _emit(ev="finish", exitstatus=int(exitstatus))
PLUGIN

# --- libraries: prefixes -----------------------------------------------------------------------------
# Both are laid out the same way: PREFIX/include/zmq.h, PREFIX/lib/libzmq.so{,.5}.
make_libzmq_prefix() {
  local p="$J/prefix-libzmq" hdr="${LIBZMQ_HEADER:-/usr/include/zmq.h}" so="${LIBZMQ_SO:-}"
  if [ -z "$so" ]; then so="$(gcc -print-file-name=libzmq.so 2>/dev/null || true)"; fi
  [ -f "$hdr" ] || die "real libzmq's header $hdr is missing (apt-get install libzmq3-dev)"
  [ -e "$so" ] && [ "$so" != libzmq.so ] || die "real libzmq's libzmq.so not found (apt-get install libzmq3-dev)"
  so="$(readlink -f "$so")"
  mkdir -p "$p/include" "$p/lib"
  ln -sfn "$hdr" "$p/include/zmq.h"
  [ -f "$(dirname "$hdr")/zmq_utils.h" ] && ln -sfn "$(dirname "$hdr")/zmq_utils.h" "$p/include/zmq_utils.h"
  ln -sfn "$so" "$p/lib/libzmq.so.5"
  ln -sfn libzmq.so.5 "$p/lib/libzmq.so"
  echo "$p"
}

make_ringmq_prefix() {
  local p="$J/prefix-ringmq" logf="$J/logs/abi-prefix.log"
  # The lock: another engineer builds concurrently on this machine.
  if flock /tmp/ringmq-cargo.lock scripts/abi-prefix.sh "$p" >"$logf.out" 2>"$logf"; then
    tail -n1 "$logf.out"
  else
    return 1
  fi
}

# --- build --------------------------------------------------------------------------------------------
header_hash() { sha256sum "$(readlink -f "$1/include/zmq.h")" | cut -c1-16; }

ensure_venv() { # lib
  local v="$TJ/pyzmq-venv-$1" want
  want="$("$PY" -c 'import sys; print(sys.version.split()[0])') ${TEST_DEPS[*]} ${BUILD_DEPS[*]}"
  if [ ! -x "$v/bin/python" ] || [ "$(cat "$v/.judge-deps" 2>/dev/null)" != "$want" ]; then
    log "[$1] creating $v (pytest, plugins, build tools)"
    rm -rf "$v"
    "$PY" -m venv "$v"
    "$v/bin/python" -m pip install -q --upgrade pip >&2
    "$v/bin/python" -m pip install -q "${TEST_DEPS[@]}" "${BUILD_DEPS[@]}" >&2 || return 1
    printf '%s' "$want" >"$v/.judge-deps"
  fi
}

# Lists what the build needs from zmq.h and did not find, from gcc's messages.
missing_from_buildlog() {
  # (gcc quotes with U+2018/U+2019 under a UTF-8 locale, with ' under C)
  sed "s/\xe2\x80\x98/'/g; s/\xe2\x80\x99/'/g" "$1" 2>/dev/null | grep -oE "'[A-Za-z_][A-Za-z0-9_]*' undeclared|implicit declaration of function '[A-Za-z0-9_]+'|unknown type name '[A-Za-z0-9_]+'|'[A-Za-z0-9_]+' has no member named '[A-Za-z0-9_]+'|storage size of '[A-Za-z0-9_]+' isn't known|zmq\.h: No such file" |
    sed -E "s/implicit declaration of function '([^']+)'/\1 (function)/; s/'([^']+)' undeclared/\1 (constant)/; s/unknown type name '([^']+)'/\1 (type)/" |
    sort -u | paste -sd, - | sed 's/,/, /g'
}

build_pyzmq() { # lib prefix -> 0 built/cached, 1 failed
  local lib="$1" prefix="$2" v="$TJ/pyzmq-venv-$1" stamp want t0 blog="$J/logs/build-$1.log"
  want="pyzmq-$PYZMQ_V zmq.h:$(header_hash "$prefix") prefix:$prefix cflags:$BUILD_CFLAGS"
  stamp="$v/.judge-build"
  if [ "$REBUILD" = 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
     ls "$v"/lib/python*/site-packages/zmq/backend/cython/_zmq.*.so >/dev/null 2>&1; then
    log "[$lib] pyzmq build is up to date (same sdist, same zmq.h)"
    setstate "$lib" build cached
    return 0
  fi
  rm -f "$stamp"
  log "[$lib] building pyzmq $PYZMQ_V against $prefix (log: ${blog#"$ROOT"/})"
  t0=$(now)
  # ZMQ_PREFIX: pyzmq's CMakeLists then looks for zmq.h and libzmq only in PREFIX/include and
  # PREFIX/lib (NO_DEFAULT_PATH) and puts PREFIX/lib on the RPATH; PYZMQ_NO_BUNDLE=1 makes a
  # failure to find them fatal instead of falling back to downloading and bundling libzmq. Both
  # are also given as cmake defines (same meaning). ZMQ_DRAFT_API stays off: stable API only.
  if env ZMQ_PREFIX="$prefix" PYZMQ_NO_BUNDLE=1 ZMQ_DRAFT_API=0 CFLAGS="$BUILD_CFLAGS" \
      CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$v/bin/python" -m pip install -v --no-build-isolation --no-deps --force-reinstall \
        -C build-dir="$J/build-$lib" \
        -C cmake.define.ZMQ_PREFIX="$prefix" -C cmake.define.PYZMQ_NO_BUNDLE=ON \
        "$SRC" >"$blog" 2>&1; then
    setstate "$lib" build ok
    setstate "$lib" build_s "$(( $(now) - t0 ))"
    printf '%s' "$want" >"$stamp"
    return 0
  fi
  setstate "$lib" build failed
  setstate "$lib" build_s "$(( $(now) - t0 ))"
  setstate "$lib" build_missing "$(missing_from_buildlog "$blog")"
  setstate "$lib" build_errors "$(grep -E 'error:|Error|FATAL' "$blog" | grep -v '^ *$' | head -n 8 | sed 's/^ *//' | paste -sd'|' -)"
  log "[$lib] pyzmq build FAILED; missing: $(missing_from_buildlog "$blog")"
  return 1
}

# --- which library does the built extension load? ------------------------------------------------------
check_import() { # lib prefix -> 0 ok, 1 import failed; dies if the wrong library is loaded
  local lib="$1" prefix="$2" v="$TJ/pyzmq-venv-$1" ext out want
  ext="$(ls "$v"/lib/python*/site-packages/zmq/backend/cython/_zmq.*.so | head -n1)"
  setstate "$lib" ldd "$(LD_LIBRARY_PATH="$prefix/lib" ldd "$ext" | grep libzmq | sed 's/^[[:space:]]*//')"
  # Every zmq_* function the extension needs that the library does not define (the import
  # error names only the first).
  setstate "$lib" undefined_syms "$(comm -23 \
      <(nm -D --undefined-only "$ext" | awk '{print $NF}' | grep -E '^zmq_' | sed 's/@.*//' | sort -u) \
      <(nm -D --defined-only "$(readlink -f "$prefix/lib/libzmq.so.5")" | awk '{print $NF}' | sed 's/@.*//' | sort -u) |
      paste -sd, - | sed 's/,/, /g')"
  local irc=0
  out="$(cd "$SRC" && LD_LIBRARY_PATH="$prefix/lib" PYTHONSAFEPATH=1 timeout 60 "$v/bin/python" -X faulthandler -c '
import ctypes, os, zmq
from zmq.backend.cython import _zmq
loaded = [l.split()[-1] for l in open("/proc/self/maps") if "libzmq" in l]
try:
    # const char ringmq_zmq_abi[] (an array: its address is the string); real libzmq lacks it
    marker = ctypes.string_at(ctypes.addressof(
        ctypes.c_char.in_dll(ctypes.CDLL(_zmq.__file__), "ringmq_zmq_abi"))).decode()
except ValueError:
    marker = ""
print(os.path.realpath(loaded[0]) if loaded else "")
print(marker)
print(zmq.zmq_version(), zmq.pyzmq_version())
print("curve" if zmq.has("curve") else "no-curve")
' 2>"$J/logs/import-$lib.log")" || irc=$?
  if [ "$irc" -ne 0 ]; then  # python's status; 128+N for signal N (139: SIGSEGV)
    setstate "$lib" import failed
    setstate "$lib" import_error "exit $irc: $(grep -E 'Error|error' "$J/logs/import-$lib.log" | tail -n1)"
    log "[$lib] import zmq FAILED: $(tail -n1 "$J/logs/import-$lib.log")"
    return 1
  fi
  local loaded marker vers curve
  { read -r loaded; read -r marker; read -r vers; read -r curve; } <<<"$out"
  want="$(readlink -f "$prefix/lib/libzmq.so.5")"
  [ "$loaded" = "$want" ] || die "[$lib] the extension loaded $loaded, not $want"
  if [ "$lib" = ringmq ]; then
    [ -n "$marker" ] || die "[ringmq] the loaded libzmq has no ringmq_zmq_abi marker: not ringmq's"
  else
    [ -z "$marker" ] || die "[libzmq] the loaded libzmq has ringmq's marker ($marker): not real libzmq"
  fi
  setstate "$lib" import ok
  setstate "$lib" loaded "$loaded${marker:+ ($marker)}"
  setstate "$lib" versions "libzmq $vers (zmq_version, pyzmq)"
  setstate "$lib" curve "$curve"
  log "[$lib] import ok: loads $loaded${marker:+ [$marker]}; zmq_version/pyzmq $vers; $curve"
}

# --- run the tests ---------------------------------------------------------------------------------------
run_tests() { # lib prefix
  local lib="$1" prefix="$2" v="$TJ/pyzmq-venv-$1" res="$J/results-$1.jsonl" t0 deadline run=0 rc left
  local plog starts_before starts_after
  rm -f "$res" "$J/junit/$lib"-*.xml "$J/logs/pytest-$lib"-*.log
  : >"$res"
  t0=$(now); deadline=$(( t0 + SUITE_TIMEOUT ))
  log "[$lib] running pyzmq's tests (per test ${TEST_TIMEOUT}s, whole run ${SUITE_TIMEOUT}s)"
  local kargs=()
  [ -n "$KEXPR" ] && kargs=(-k "$KEXPR")
  while :; do
    run=$(( run + 1 ))
    left=$(( deadline - $(now) ))
    if [ "$left" -le 5 ]; then setstate "$lib" suite_timeout yes; log "[$lib] whole-run limit reached"; break; fi
    if [ "$run" -gt 60 ]; then log "[$lib] giving up after 60 pytest restarts"; setstate "$lib" gave_up yes; break; fi
    starts_before=$(grep -c '"ev": "start"' "$res" || true)
    plog="$J/logs/pytest-$lib-$run.log"
    # Runs from the sdist's root so its pytest.ini (asyncio mode, pythonpath, import mode)
    # applies; PYTHONSAFEPATH keeps the sdist's uncompiled zmq/ off sys.path (the session record
    # says which zmq was imported). CFLAGS/LDFLAGS point the runtime-Cython test at the same zmq.h.
    # ZMQ_TEST_TIMEOUT is not set: pyzmq's conftest would pass its string to signal.alarm.
    set +e
    (cd "$SRC" && exec timeout -k 10 "$left" env \
        LD_LIBRARY_PATH="$prefix/lib" PYTHONSAFEPATH=1 PYTHONPATH="$J/plugin" \
        CFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib -Wl,-rpath,$prefix/lib" \
        JUDGE_LOG="$res" JUDGE_RUN="$run" JUDGE_TEST_TIMEOUT="$TEST_TIMEOUT" \
        "$v/bin/python" -m pytest tests -p judge_plugin -p no:cacheprovider -q -rN \
          --junitxml="$J/junit/$lib-$run.xml" ${kargs[@]+"${kargs[@]}"} \
        >"$plog" 2>&1) &
    local pid=$!
    # A process that finished its session but hangs on exit (context teardown) is ended.
    local grace=0
    while kill -0 "$pid" 2>/dev/null; do
      sleep 2
      if grep -q "\"ev\": \"finish\".*\"run\": $run}" "$res"; then
        grace=$(( grace + 2 ))
        # SIGTERM to timeout(1), which passes it on to pytest and KILLs it 10 s later
        [ "$grace" -eq 30 ] && kill -TERM "$pid" 2>/dev/null
      fi
    done
    wait "$pid"; rc=$?
    set -e
    printf '{"ev": "exit", "rc": %d, "run": %d}\n' "$rc" "$run" >>"$res"
    if grep -q "\"ev\": \"finish\".*\"run\": $run}" "$res"; then
      [ "$grace" -ge 30 ] && setstate "$lib" exit_hang "run $run: pytest finished but the process did not exit (killed after 30s)"
      break
    fi
    if [ "$rc" -eq 124 ] && [ "$(( deadline - $(now) ))" -le 5 ]; then
      setstate "$lib" suite_timeout yes; log "[$lib] whole-run limit reached"; break
    fi
    starts_after=$(grep -c '"ev": "start"' "$res" || true)
    if [ "$starts_after" -le "$starts_before" ]; then
      setstate "$lib" stuck "pytest run $run ended (rc $rc) without progress: $(grep -vE '^\s*$' "$plog" | tail -n1)"
      log "[$lib] pytest run $run made no progress (rc $rc), stopping; see ${plog#"$ROOT"/}"
      break
    fi
    log "[$lib] pytest run $run ended with rc $rc ($starts_after tests started so far); resuming"
  done
  setstate "$lib" test_s "$(( $(now) - t0 ))"
  setstate "$lib" pytest_runs "$run"
  log "[$lib] tests done in $(( $(now) - t0 ))s ($run pytest process(es))"
}

# --- per library -----------------------------------------------------------------------------------------
judge_lib() { # lib
  local lib="$1" prefix
  : >"$J/state/$lib.tsv"
  rm -f "$J/results-$lib.jsonl"
  setstate "$lib" when "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  setstate "$lib" kexpr "$KEXPR"
  setstate "$lib" pyzmq "$PYZMQ_V"
  if [ "$lib" = libzmq ]; then
    prefix="$(make_libzmq_prefix)"
  else
    log "[ringmq] building libzmq.so.5 (scripts/abi-prefix.sh, under /tmp/ringmq-cargo.lock)"
    if ! prefix="$(make_ringmq_prefix)"; then
      setstate ringmq build "failed: the ringmq library did not build"
      setstate ringmq build_errors "$(grep -E '^error' "$J/logs/abi-prefix.log" | head -n 5 | paste -sd'|' -)"
      log "[ringmq] scripts/abi-prefix.sh failed; see target/judge/pyzmq/logs/abi-prefix.log"
      return 0
    fi
  fi
  setstate "$lib" prefix "$prefix"
  ensure_venv "$lib" || die "[$lib] could not install the test/build packages into the venv"
  if ! build_pyzmq "$lib" "$prefix"; then
    [ "$lib" = libzmq ] && die "pyzmq does not build against real libzmq: the judge is broken (see $J/logs/build-libzmq.log)"
    return 0
  fi
  if ! check_import "$lib" "$prefix"; then
    [ "$lib" = libzmq ] && die "pyzmq built against real libzmq does not import: the judge is broken"
    return 0
  fi
  run_tests "$lib" "$prefix"
}

for lib in $LIBS; do judge_lib "$lib"; done

# --- the zmq.h gap (context for the table): stable names in real libzmq's header that ringmq's lacks -----
if [ -f "$J/prefix-ringmq/include/zmq.h" ]; then
  names() { # header -> ZMQ_* macros and zmq_* functions it declares without ZMQ_BUILD_DRAFT_API
    { gcc -E -dM -x c "$1" | awk '$2 ~ /^ZMQ_/ {sub(/\(.*/, "", $2); print $2}'
      gcc -E -P -x c "$1" | grep -oE '\bzmq_[a-z0-9_]+ *\(' | tr -d ' ('; } | sort -u
  }
  comm -23 <(names "$(readlink -f "$J/prefix-libzmq/include/zmq.h" 2>/dev/null || echo /usr/include/zmq.h)") \
           <(names "$J/prefix-ringmq/include/zmq.h") >"$J/state/header-gap.txt" 2>/dev/null || true
  # and zmq_* functions real libzmq's library exports that ringmq's does not
  exports() { nm -D --defined-only "$(readlink -f "$1")" | awk '{print $NF}' | sed 's/@.*//' | grep -E '^zmq_' | sort -u; }
  if [ -e "$J/prefix-libzmq/lib/libzmq.so.5" ] && [ -e "$J/prefix-ringmq/lib/libzmq.so.5" ]; then
    comm -23 <(exports "$J/prefix-libzmq/lib/libzmq.so.5") <(exports "$J/prefix-ringmq/lib/libzmq.so.5") \
      >"$J/state/symbol-gap.txt" 2>/dev/null || true
  fi
fi

# --- summary ------------------------------------------------------------------------------------------------
"$PY" - "$J" "$OUT" <<'SUMMARY'
import json, os, sys
from collections import Counter, defaultdict

J, OUT = sys.argv[1], sys.argv[2]
LIBS = ["libzmq", "ringmq"]
KINDS = ["passed", "failed", "error", "skipped", "xfailed", "xpassed", "crashed", "timeout"]


def state(lib):
    st = {}
    try:
        for line in open(os.path.join(J, "state", lib + ".tsv")):
            k, _, v = line.rstrip("\n").partition("\t")
            st[k] = v
    except FileNotFoundError:
        pass
    return st


def results(lib):
    res, session, starts, hangs, exits = {}, None, {}, {}, {}
    try:
        f = open(os.path.join(J, f"results-{lib}.jsonl"))
    except FileNotFoundError:
        return None, None
    for line in f:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        ev = r.get("ev")
        if ev == "session" and session is None:
            session = r
        elif ev == "start":
            starts[r["id"]] = r["run"]
        elif ev == "hang":
            hangs[r["id"]] = r.get("msg", "")
        elif ev == "exit":
            exits[r["run"]] = r["rc"]
        elif ev == "result":
            res[r["id"]] = r
    for tid, run in starts.items():  # started, never finished: the process died or hung in it
        if tid not in res:
            rc = exits.get(run)
            if tid in hangs:
                res[tid] = {"outcome": "timeout", "msg": "still running at the per-test limit, in: " + hangs[tid]}
            else:
                sig = f"signal {-rc if rc < 0 else rc - 128}" if rc is not None and (rc < 0 or rc > 128) else f"exit {rc}"
                res[tid] = {"outcome": "crashed", "msg": f"pytest process died in this test ({sig})"}
    return res, session


st = {lib: state(lib) for lib in LIBS}
rs = {lib: results(lib) for lib in LIBS}
pyzmq = st["libzmq"].get("pyzmq") or st["ringmq"].get("pyzmq") or "?"
L = [f"# pyzmq {pyzmq} test suite: real libzmq vs ringmq", ""]
L.append("pyzmq built from its PyPI sdist against each library; its own `tests/` run with pytest "
         "(scripts/judge-pyzmq.sh).")
L.append("")
L.append("| library | when | build | import | loaded libzmq | " + " | ".join(KINDS) + " | total | test time |")
L.append("|---" * (6 + len(KINDS) + 1) + "|")
for lib in LIBS:
    s = st[lib]
    if not s:
        L.append(f"| {lib} | not run |" + " |" * (5 + len(KINDS)))
        continue
    res, _ = rs[lib]
    c = Counter(r["outcome"] for r in (res or {}).values())
    build = s.get("build", "?") + (f" ({s['build_s']}s)" if s.get("build_s") else "")
    counts = " | ".join(str(c.get(k, 0)) for k in KINDS) if res is not None else " | ".join("-" for _ in KINDS)
    total = sum(c.values()) if res is not None else "-"
    tt = s.get("test_s", "-") + ("s" if s.get("test_s") else "")
    if s.get("suite_timeout"):
        tt += " (whole-run limit hit)"
    L.append(f"| {lib} | {s.get('when', '?')} | {build} | {s.get('import', '-')} | "
             f"{s.get('loaded', '-')} | {counts} | {total} | {tt} |")
L.append("")
for lib in LIBS:
    s = st[lib]
    notes = []
    if s.get("kexpr"):
        notes.append(f"selected with `-k {s['kexpr']}`")
    if s.get("build", "").startswith("failed"):
        notes.append(f"build failed; missing from zmq.h: {s.get('build_missing') or '(see log)'}")
        if s.get("build_errors"):
            notes.append("first errors: " + s["build_errors"].replace("|", " / ")[:600])
    if s.get("undefined_syms"):
        notes.append(f"functions the extension needs that the library lacks: {s['undefined_syms']}")
    if s.get("import") == "failed":
        notes.append(f"import failed: {s.get('import_error', '')}")
    for k in ("stuck", "exit_hang", "gave_up"):
        if s.get(k):
            notes.append(f"{k}: {s[k]}")
    if s.get("pytest_runs") and s["pytest_runs"] != "1":
        notes.append(f"{s['pytest_runs']} pytest processes (restarted after crashes/timeouts)")
    if s.get("ldd"):
        notes.append(f"ldd: `{s['ldd']}`")
    if s.get("versions"):
        notes.append(s["versions"] + ", " + s.get("curve", ""))
    if notes:
        L.append(f"- **{lib}**: " + "; ".join(notes))
L.append("")

base, _ = rs["libzmq"]
ring, _ = rs["ringmq"]
if base is not None:
    passing = sorted(t for t, r in base.items() if r["outcome"] == "passed")
    if ring is None or not ring:
        why = "ringmq has no test results (build/import failed or not run)"
        L.append(f"## Passing on libzmq, not on ringmq: all {len(passing)} ({why})")
    else:
        kb, kr = st["libzmq"].get("kexpr", ""), st["ringmq"].get("kexpr", "")
        if kb != kr:  # different selections: compare only what ringmq's selection ran
            passing = [t for t in passing if t in ring]
        reg = [(t, ring.get(t)) for t in passing if (ring.get(t) or {}).get("outcome") != "passed"]
        L.append(f"## Passing on libzmq, not on ringmq: {len(reg)}")
        L.append("")
        if kb != kr:
            L.append(f"(Runs selected differently, libzmq `-k {kb or '(all)'}`, ringmq `-k {kr or '(all)'}`: "
                     "only tests both runs ran are compared.)")
            L.append("")
        if reg:
            byfile = Counter(t.split("::")[0] for t, _ in reg)
            L.append("By file: " + ", ".join(f"{f.split('/')[-1]} {n}" for f, n in sorted(byfile.items())))
            L.append("")
            L.append("| test | ringmq | message |")
            L.append("|---|---|---|")
            for t, r in reg:
                out = r["outcome"] if r else "not run"
                msg = (r or {}).get("msg", "").replace("|", "\\|")[:200]
                L.append(f"| `{t}` | {out} | {msg} |")
        else:
            L.append("None: every test that passes on libzmq passes on ringmq.")
        better = sorted(t for t, r in ring.items() if r["outcome"] == "passed"
                        and (base.get(t) or {}).get("outcome") not in ("passed", None))
        if better:
            L.append("")
            L.append(f"Passing on ringmq but not on libzmq: {len(better)}: " + ", ".join(f"`{t}`" for t in better))
    nonpass = sorted((t, r) for t, r in base.items() if r["outcome"] in ("failed", "error", "crashed", "timeout"))
    if nonpass:
        L.append("")
        L.append(f"Baseline (libzmq) non-passing tests: {len(nonpass)}: " +
                 ", ".join(f"`{t}` ({r['outcome']})" for t, r in nonpass))
for fname, what in (("header-gap.txt", "zmq.h names (stable, no draft API) in real libzmq's header, not in ringmq's"),
                    ("symbol-gap.txt", "zmq_* functions real libzmq's library exports, ringmq's does not")):
    gap = os.path.join(J, "state", fname)
    if os.path.exists(gap):
        names = [n.strip() for n in open(gap) if n.strip()]
        L.append("")
        L.append(f"{what}: {len(names)}" + (": " + ", ".join(names) if names else ""))
text = "\n".join(L) + "\n"
os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
open(OUT, "w").write(text)
print(text)
SUMMARY
log "table written to ${OUT#"$ROOT"/}"
