# shellcheck shell=bash
# Source this file: it points podman at a private containers.conf that works on machines
# without systemd and with a low hard nofile limit, and leaves /etc/containers untouched.
#   runtime runc      crun fails here with "cgroups in hybrid mode not supported"
#   cgroupfs, file    no systemd to talk to
#   default_ulimits   podman's default nofile (1048576) is above the hard limit: setrlimit fails
_bots_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_bots_conf_dir="${BOTS_RUNTIME_CACHE:-${_bots_repo}/.cache}/podman"
mkdir -p "${_bots_conf_dir}"
_bots_nofile="$(ulimit -Hn)"
[ "${_bots_nofile}" = unlimited ] && _bots_nofile=65536
[ "${_bots_nofile}" -gt 65536 ] && _bots_nofile=65536
_bots_nproc="$(ulimit -Hu)"
[ "${_bots_nproc}" = unlimited ] && _bots_nproc=32768
[ "${_bots_nproc}" -gt 32768 ] && _bots_nproc=32768
cat > "${_bots_conf_dir}/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${_bots_nofile}:${_bots_nofile}", "nproc=${_bots_nproc}:${_bots_nproc}"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="${_bots_conf_dir}/containers.conf"
unset _bots_repo _bots_conf_dir _bots_nofile _bots_nproc
