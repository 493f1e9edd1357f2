#!/bin/sh
# The steps of container/Dockerfile that depend on the build arguments, as one script so that
# every choice is made in one place and every failure is one line naming the argument.
#
#   image-steps.sh build-deps          builder: Debian packages the drivers need to compile
#   image-steps.sh wheels SRC OUT      builder: wheels of bots-runtime (SRC), the Bots, the
#                                      drivers; OUT/requirements.txt lists what to install
#   image-steps.sh run-deps            final: the drivers' shared libraries (apt, lists removed)
#   image-steps.sh verify PYTHON       final: the image holds what its labels say
#
# Build arguments (environment):
#   BOTS_VERSION     the bots-ediint version the image holds (label bots-runtime.bots.version)
#   BOTS_SOURCE      where it comes from: a pip requirement (default bots-ediint==BOTS_VERSION,
#                    from PyPI) or a path below container/vendor/ in the build context: a Bots
#                    source tree (pyproject.toml or setup.py) or a folder of wheels
#   BOTS_DB_DRIVERS  names from container/db-drivers.txt, space separated; "none": SQLite only
#   PIP              the builder's pip (default pip)
set -eu
set -f # no globbing: requirements like psycopg[binary] are words, not patterns

here="$(cd "$(dirname "$0")" && pwd)"
table="${here}/db-drivers.txt"

fail() {
    echo "bots-runtime image: $*" >&2
    exit 1
}

drivers() {
    case "${BOTS_DB_DRIVERS:-}" in
        "" | none) ;;
        *) echo "${BOTS_DB_DRIVERS}" | tr -s ' ,' '\n' | sed '/^$/d' ;;
    esac
}

# column NAME N: field N of the driver's row in the table ("-" for an empty list).
column() {
    awk -v name="$1" -v n="$2" '$1 !~ /^#/ && $1 == name { print $n; found = 1 }
        END { exit found ? 0 : 1 }' "${table}"
}

check_drivers() {
    for name in $(drivers); do
        if ! column "${name}" 1 >/dev/null; then
            known="$(awk '$1 !~ /^#/ && NF { printf "%s ", $1 }' "${table}")"
            fail "BOTS_DB_DRIVERS: unknown driver '${name}'; expected some of: ${known}(or none)"
        fi
    done
}

# packages N: the comma lists of column N of every chosen driver, as words.
packages() {
    for name in $(drivers); do
        column "${name}" "$1" | tr ',' ' ' | sed 's/^-$//'
        echo
    done | tr -s ' \n' '  '
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

build_deps() {
    check_drivers
    wanted="$(packages 5)"
    [ -n "${wanted# }" ] || return 0
    # A compiled driver needs Python's headers: the official image has them, Debian's python3
    # only with python3-dev.
    if ! python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
        wanted="${wanted} python3-dev"
    fi
    echo "builder: apt-get install ${wanted}"
    # shellcheck disable=SC2086 # the package list is words
    apt_install ${wanted}
}

# bots_wheel DIR: the single bots_ediint wheel in DIR.
bots_wheel() {
    set +f
    set -- "$1"/bots_ediint-*.whl
    set -f
    [ -e "$1" ] || return 1
    [ "$#" -eq 1 ] || fail "BOTS_SOURCE=${BOTS_SOURCE}: more than one bots_ediint wheel"
    echo "$1"
}

wheels() {
    src=$1
    out=$2
    pip="${PIP:-pip}"
    check_drivers
    : "${BOTS_VERSION:?BOTS_VERSION must be set}"
    source="${BOTS_SOURCE:-bots-ediint==${BOTS_VERSION}}"
    links=""
    mkdir -p "${out}/bots"
    case "${source}" in
        */*)
            case "${source}" in
                container/vendor/?*) ;;
                *) fail "BOTS_SOURCE=${source}: a path must be below container/vendor/ (the only folder of container/ in the build context)" ;;
            esac
            path="${src}/${source}"
            if [ -f "${path}/pyproject.toml" ] || [ -f "${path}/setup.py" ]; then
                echo "builder: Bots from the source tree ${source}"
                ${pip} wheel --no-deps --use-pep517 --wheel-dir "${out}/bots" "${path}"
            elif [ -d "${path}" ] && bots_wheel "${path}" >/dev/null; then
                echo "builder: Bots from the wheel folder ${source}"
                cp "$(bots_wheel "${path}")" "${out}/bots/"
                links="--find-links ${path}"
            else
                fail "BOTS_SOURCE=${source}: not in the build context, or neither a source tree (pyproject.toml, setup.py) nor a folder with a bots_ediint wheel"
            fi
            ;;
        *)
            echo "builder: Bots from ${source}"
            ${pip} wheel --no-deps --use-pep517 --wheel-dir "${out}/bots" "${source}"
            ;;
    esac
    wheel="$(bots_wheel "${out}/bots")" || fail "BOTS_SOURCE=${source}: no bots-ediint wheel came out of it"
    version="$(basename "${wheel}" | cut -d- -f2)"
    [ "${version}" = "${BOTS_VERSION}" ] \
        || fail "BOTS_SOURCE=${source} holds bots-ediint ${version}, not BOTS_VERSION=${BOTS_VERSION}: pass --build-arg BOTS_VERSION=${version}"
    generation="${version%%.*}"
    requirements="bots-runtime bots-ediint==${version}"
    for name in $(drivers); do
        case ",$(column "${name}" 4)," in
            *",${generation},"*) ;;
            *) fail "BOTS_DB_DRIVERS: ${name} does not work with Bots ${version} (only with Bots $(column "${name}" 4)); see container/db-drivers.txt" ;;
        esac
        requirements="${requirements} $(column "${name}" 2)"
    done
    constraints="-c ${here}/constraints.txt"
    if [ -f "${here}/constraints-bots${generation}.txt" ]; then
        constraints="${constraints} -c ${here}/constraints-bots${generation}.txt"
    fi
    echo "builder: wheels of ${requirements}"
    # shellcheck disable=SC2046,SC2086 # the link, constraint and requirement lists are words
    ${pip} wheel --use-pep517 --wheel-dir "${out}" --find-links "${out}/bots" ${links} \
        ${constraints} "${src}" $(echo "${requirements}" | cut -d' ' -f2-)
    rm -rf "${out}/bots"
    echo "${requirements}" | tr ' ' '\n' >"${out}/requirements.txt"
}

run_deps() {
    check_drivers
    wanted="$(packages 6)"
    [ -n "${wanted# }" ] || return 0
    echo "final: apt-get install ${wanted}"
    # shellcheck disable=SC2086 # the package list is words
    apt_install ${wanted}
    apt-get clean
    find /var/lib/apt/lists /var/cache/apt -mindepth 1 -delete
}

verify() {
    python=$1
    version="$("${python}" -c 'import importlib.metadata as m; print(m.version("bots-ediint"))')"
    [ "${version}" = "${BOTS_VERSION}" ] \
        || fail "the image holds bots-ediint ${version}, its label says ${BOTS_VERSION}"
    for name in $(drivers); do
        module="$(column "${name}" 3)"
        "${python}" -c "import ${module}" || fail "BOTS_DB_DRIVERS: ${name} installed, but 'import ${module}' fails"
    done
    echo "final: bots-ediint ${version}, drivers: ${BOTS_DB_DRIVERS:-none}"
}

case "${1:-}" in
    build-deps) build_deps ;;
    wheels) wheels "$2" "$3" ;;
    run-deps) run_deps ;;
    verify) verify "$2" ;;
    *)
        sed -n '2,17p' "$0" >&2
        exit 64
        ;;
esac
