#!/bin/bash
# User data of the integration test's instance: a small stand-in for an AEM installation (no AEM):
# the AEM user and a crx-quickstart tree whose Felix bundle cache has the two crypto bundles
# (bundle.info as Felix 4 writes it, data folders), so the installer finds where the keys go.
# Also run by test/integ.test.ts on this machine, against the real installer.
set -euo pipefail
root=${AEMKEYS_STAND_IN_ROOT:-/opt/aem}
user=${AEMKEYS_STAND_IN_USER:-aem}
id "$user" >/dev/null 2>&1 || useradd --system --create-home --home-dir "$root" "$user"
felix=$root/crx-quickstart/launchpad/felix
bundle() { # id location
  mkdir -p "$felix/bundle$1/data" "$felix/bundle$1/version0.0"
  printf '%s\n' "$1" "$2" 32 1 1700000000000 0 > "$felix/bundle$1/bundle.info"
}
bundle 0 'System Bundle'
bundle 1 'launchpad:resources/install/0/org.example.filler-1.0.0.jar'
bundle 10 'launchpad:resources/install/0/com.adobe.granite.crypto.file-1.0.18.jar'
bundle 11 'slinginstall:com.adobe.granite.crypto-3.0.4.jar'
bundle 12 'launchpad:resources/install/0/com.adobe.granite.crypto.config-1.0.4.jar'
mkdir -p "$root/crx-quickstart/install"
chown -R "$user:" "$root"
chmod 755 "$root"
