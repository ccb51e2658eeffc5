#!/bin/sh
# Used by the Dockerfiles' dependency-cache layer: given only the Cargo.toml/Cargo.lock files of
# both workspaces, make placeholder sources so `cargo fetch --locked` can read the manifests.
set -eu
find . -name Cargo.toml -not -path ./Cargo.toml -not -path ./handlers/Cargo.toml | while read -r m; do
    d=$(dirname "$m")
    mkdir -p "$d/src"
    touch "$d/src/lib.rs"
    grep -o 'path *= *"[^"]*\.rs"' "$m" | sed 's/.*"\(.*\)"/\1/' | while read -r p; do
        mkdir -p "$d/$(dirname "$p")"
        echo 'fn main() {}' > "$d/$p"
    done
done
