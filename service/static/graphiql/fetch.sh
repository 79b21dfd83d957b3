#!/usr/bin/env bash
# Refresh the GraphiQL assets the service ships, from the npm registry (`npm pack`): only the minified
# UMD builds the page loads, each package's LICENSE next to them. Change the versions here and in
# README.md (and skd/service/graphiql.py's VERSIONS) together; react and react-dom must match.
set -euo pipefail
cd "$(dirname "$0")"
GRAPHIQL=3.8.3 REACT=18.3.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
take() {  # take PACKAGE@VERSION FILE...: unpack the package's tarball and copy FILEs and its LICENSE
    local spec=$1 name=${1%@*}
    shift
    local tgz
    tgz=$(cd "$work" && npm pack --silent "$spec")
    mkdir -p "$work/$name" && tar -xzf "$work/$tgz" -C "$work/$name" --strip-components=1
    rm -rf "$name" && mkdir -p "$name"
    for f in "$@" LICENSE; do cp "$work/$name/$f" "$name/"; done
}
take "graphiql@$GRAPHIQL" graphiql.min.js graphiql.min.css
take "react@$REACT" umd/react.production.min.js
take "react-dom@$REACT" umd/react-dom.production.min.js
sha256sum ./*/*.js ./*/*.css
