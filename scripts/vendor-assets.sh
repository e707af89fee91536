#!/usr/bin/env sh
# Copy the front-end files Tenantry ships from node_modules into the Python package, so that
# `pip install` and the running server never need the network. Run after changing package.json:
#   npm ci && scripts/vendor-assets.sh
set -eu
cd "$(dirname "$0")/.."
dest=src/tenantry/api/static/swagger-ui
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE favicon-32x32.png; do
  cp "node_modules/swagger-ui-dist/$f" "$dest/"
done
echo "swagger-ui-dist $(node -p "require('./node_modules/swagger-ui-dist/package.json').version")" > "$dest/VERSION"
echo "vendored into $dest"
