#!/bin/sh
# The Core image's entrypoint: put the image's built-in components into COMPONENTS_DIR (they
# replace older copies of themselves; other .wasm files there, the operator's, stay), then run
# `nexuma` with the arguments given (`serve` by default; `migrate`, `admin create ...`).
set -eu
: "${COMPONENTS_DIR:=/var/lib/nexuma/components}"
if [ "${1:-serve}" = serve ] && [ -d /opt/nexuma/components ]; then
    mkdir -p "$COMPONENTS_DIR"
    for f in /opt/nexuma/components/*.wasm; do
        [ -e "$f" ] || continue
        name=$(basename "$f")
        if ! cmp -s "$f" "$COMPONENTS_DIR/$name"; then
            cp "$f" "$COMPONENTS_DIR/.$name.tmp"
            mv -f "$COMPONENTS_DIR/.$name.tmp" "$COMPONENTS_DIR/$name"
        fi
    done
fi
exec /usr/local/bin/nexuma "$@"
