#!/bin/sh
# End-to-end checks of what braidrun reports about a braid program:
#   braidrun_report_e2e.sh BRAIDRUN SMOKE error|segv|trace
# error/segv: rank 1 of 3 fails (an error / a segfault); braidrun's failure
#   report must name it as the root cause, with its recorded error.
# trace: BRAID_TRACE=dir; braidrun must merge the ranks' traces into
#   dir/trace.json with one pid per rank.
braidrun=$1 smoke=$2 mode=$3
fail() { echo "braidrun_report_e2e ($mode): $*" >&2; exit 1; }
expect() { printf '%s\n' "$out" | grep -q -e "$1" || fail "output lacks '$1'"; }

case "$mode" in
  error|segv)
    out=$("$braidrun" --nproc-per-node 3 "$smoke" --fail-rank 1 --fail-mode "$mode" \
          --iters 2 --timeout 30 2>&1)
    rc=$?
    printf '%s\n' "$out"
    if [ "$mode" = error ]; then
      [ $rc -eq 1 ] || fail "exit code $rc, expected 1 (the failed rank's)"
      expect "error: INTERNAL: braid_smoke: injected failure on rank 1 (--fail-rank 1)"
    else
      [ $rc -eq 139 ] || fail "exit code $rc, expected 139 (128 + SIGSEGV)"
      expect "error: SIGSEGV: Segmentation fault (fatal signal 11)"
      expect "#0 0x"
    fi
    expect "root cause (first failure): rank 1 (local 1, pid "
    expect "last output of rank 1:"
    ;;
  trace)
    dir=$(mktemp -d) || fail "mktemp"
    out=$(BRAID_TRACE="$dir" "$braidrun" --nproc-per-node 2 "$smoke" --iters 3 2>&1)
    rc=$?
    printf '%s\n' "$out"
    merged=$(cat "$dir/trace.json" 2>/dev/null)
    rm -rf "$dir"
    [ $rc -eq 0 ] || fail "exit code $rc"
    expect "merged the traces of 2 rank(s) into $dir/trace.json"
    out=$merged
    expect '"args":{"name":"rank 0"}'
    expect '"args":{"name":"rank 1"}'
    expect '"name":"allreduce","cat":"communication","ph":"X",.*"pid":0,'
    expect '"name":"allreduce","cat":"communication","ph":"X",.*"pid":1,'
    expect '"otherData":{"ranks":\[0,1\]'
    ;;
  *) fail "unknown mode" ;;
esac
echo "braidrun_report_e2e ($mode): OK"
