# netns.sh - sourced by bench/c1m_hold.sh and bench/c1m_after_ramp.sh for
# --netns: run the calling script again inside a new network namespace
# whose TCP established hash has a bucket per socket (2N: both loopback
# ends), via net.ipv4.tcp_child_ehash_entries (Linux 6.1+), restored after.
# See BENCHMARKS.md, "The kernel's established hash".

# netns_run N SCRIPT ARGS... : never returns (exits with the script's status)
netns_run() {
  local n=$1 script=$2 buckets=1 old rc=0
  shift 2
  [ "$(id -u)" = 0 ] || { echo "$script: --netns needs root" >&2; exit 2; }
  [ -e /proc/sys/net/ipv4/tcp_child_ehash_entries ] ||
    { echo "$script: --netns needs Linux 6.1+ (tcp_child_ehash_entries)" >&2; exit 2; }
  while [ "$buckets" -lt $(( 2 * n )) ]; do buckets=$(( buckets * 2 )); done
  # host-wide settings (net.ipv4.tcp_mem is not visible inside the namespace)
  [ -x build/release/wspush ] || scripts/build.sh release >/dev/null
  build/release/wspush tune --conns "$n" --apply >/dev/null || true
  old=$(sysctl -n net.ipv4.tcp_child_ehash_entries)
  sysctl -qw net.ipv4.tcp_child_ehash_entries="$buckets"
  C1M_IN_NETNS=1 unshare -n bash -c 'ip link set lo up && exec "$@"' _ "$PWD/bench/${script##*/}" "$@" || rc=$?
  sysctl -qw net.ipv4.tcp_child_ehash_entries="$old"
  exit $rc
}

netns_say() {
  [ -n "${C1M_IN_NETNS:-}" ] &&
    echo "network namespace: net.ipv4.tcp_ehash_entries = $(sysctl -n net.ipv4.tcp_ehash_entries)"
  return 0
}
