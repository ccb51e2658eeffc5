#!/usr/bin/env bash
# Installs the Core or the node agent onto this machine (systemd):
#   deploy/install.sh core     nexuma, its components, user `nexuma`, /etc/nexuma/nexuma.env, nexuma.service
#   deploy/install.sh node     nexuma-node, user `nexuma-node`, /etc/nexuma-node/nexuma-node.env, nexuma-node.service
# Run from the repository root after `make handlers && cargo build --release -p nexuma-host -p nexuma-node`
# (or give the binaries' directory in BIN_DIR). An existing env file is never overwritten.
#
# Environment:
#   DESTDIR          install under this root instead of / ; then no user is created, nothing is
#                    chowned and systemctl is not run: what would be done is printed instead
#   BIN_DIR          where the binaries are (default: target/release)
#   COMPONENTS_SRC   the Core's .wasm components (default: components)
#   XRAY_DIR         node only: a directory holding an unpacked Xray-core release (xray,
#                    geoip.dat, geosite.dat) to install into /usr/local/lib/xray
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -eq 1 ] || usage
what=$1
case "$what" in core|node) ;; -h|--help) usage ;; *) usage ;; esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
DESTDIR=${DESTDIR:-}
BIN_DIR=${BIN_DIR:-$root/target/release}
COMPONENTS_SRC=${COMPONENTS_SRC:-$root/components}

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (or set DESTDIR to install into a directory)" >&2
    exit 1
fi

# Runs a command that changes the system; with DESTDIR only prints it.
system() {
    if [ -n "$DESTDIR" ]; then
        echo "would run: $*"
    else
        echo "+ $*"
        "$@"
    fi
}

need() { [ -e "$1" ] || { echo "install.sh: $1 is missing ($2)" >&2; exit 1; }; }

# install_env EXAMPLE TARGET GROUP: the env file, unless one is there already.
install_env() {
    local example=$1 target=$DESTDIR$2 group=$3
    install -d -m 0755 "$(dirname "$target")"
    if [ -e "$target" ]; then
        echo "kept existing $2"
    else
        install -m 0640 "$example" "$target"
        echo "installed $2 (fill it in before the first start)"
    fi
    system chown "root:$group" "$2"
}

# add_user NAME HOME
add_user() {
    if [ -z "$DESTDIR" ] && id -u "$1" >/dev/null 2>&1; then
        echo "user $1 exists"
    else
        system useradd --system --user-group --home-dir "$2" --no-create-home --shell /usr/sbin/nologin "$1"
    fi
}

case "$what" in
core)
    need "$BIN_DIR/nexuma" "cargo build --release -p nexuma-host, or set BIN_DIR"
    ls "$COMPONENTS_SRC"/*.wasm >/dev/null 2>&1 \
        || { echo "install.sh: no components in $COMPONENTS_SRC (make handlers)" >&2; exit 1; }
    install -D -m 0755 "$BIN_DIR/nexuma" "$DESTDIR/usr/local/bin/nexuma"
    install -d -m 0755 "$DESTDIR/opt/nexuma/components"
    install -m 0644 "$COMPONENTS_SRC"/*.wasm "$DESTDIR/opt/nexuma/components/"
    install -d -m 0750 "$DESTDIR/var/lib/nexuma"
    add_user nexuma /var/lib/nexuma
    system chown nexuma:nexuma /var/lib/nexuma
    install_env "$here/nexuma.env.example" /etc/nexuma/nexuma.env nexuma
    install -D -m 0644 "$here/nexuma.service" "$DESTDIR/etc/systemd/system/nexuma.service"
    system systemctl daemon-reload
    cat <<MSG
Core installed. Next:
  1. fill in /etc/nexuma/nexuma.env (PUBLIC_URL, the database, two JWT secrets: openssl rand -hex 32)
  2. systemctl enable --now nexuma && curl -s localhost:3000/health
  3. the first administrator (docs/operating.md):
     sudo -u nexuma sh -c 'set -a; . /etc/nexuma/nexuma.env; DATA_DIR=/var/lib/nexuma \\
       NEXUMA_ADMIN_PASSWORD=... exec nexuma admin create --email you@example.com'
MSG
    ;;
node)
    need "$BIN_DIR/nexuma-node" "cargo build --release -p nexuma-node, or set BIN_DIR"
    install -D -m 0755 "$BIN_DIR/nexuma-node" "$DESTDIR/usr/local/bin/nexuma-node"
    if [ -n "${XRAY_DIR:-}" ]; then
        need "$XRAY_DIR/xray" "an unpacked Xray-linux-64.zip"
        install -d -m 0755 "$DESTDIR/usr/local/lib/xray"
        install -m 0755 "$XRAY_DIR/xray" "$DESTDIR/usr/local/lib/xray/xray"
        for dat in geoip.dat geosite.dat; do
            [ -e "$XRAY_DIR/$dat" ] && install -m 0644 "$XRAY_DIR/$dat" "$DESTDIR/usr/local/lib/xray/$dat"
        done
        ln -sfn /usr/local/lib/xray/xray "$DESTDIR/usr/local/bin/xray"
    elif [ ! -e "$DESTDIR/usr/local/bin/xray" ]; then
        echo "note: no Xray-core at /usr/local/bin/xray: set XRAY_DIR, or install it yourself (docs/operating.md)"
    fi
    install -d -m 0700 "$DESTDIR/var/lib/nexuma-node"
    add_user nexuma-node /var/lib/nexuma-node
    system chown nexuma-node:nexuma-node /var/lib/nexuma-node
    install_env "$here/nexuma-node.env.example" /etc/nexuma-node/nexuma-node.env nexuma-node
    install -D -m 0644 "$here/nexuma-node.service" "$DESTDIR/etc/systemd/system/nexuma-node.service"
    system systemctl daemon-reload
    cat <<MSG
Node agent installed. Next:
  1. fill in /etc/nexuma-node/nexuma-node.env (NEXUMA_NODE_CORE_URL, NEXUMA_NODE_CODE)
  2. systemctl enable --now nexuma-node && journalctl -u nexuma-node -f
MSG
    ;;
esac
