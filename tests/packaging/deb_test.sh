#!/usr/bin/env bash
# Packaging.DebLayoutAndServiceUnit: builds the .deb with CPack from the build
# tree and checks it without installing anything (no root): its control data,
# its file list (dpkg-deb --contents), and, unpacked into a scratch root with
# dpkg-deb -x, the binaries, the service's config and the systemd unit
# (systemd-analyze verify when the host has it).
#   deb_test.sh BUILD_DIR
set -euo pipefail
build=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$scratch/out" >"$scratch/cpack.log" 2>&1) ||
  { cat "$scratch/cpack.log" >&2; fail "cpack could not build the package"; }
deb=$(ls "$scratch"/out/fedrelay_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no fedrelay_*.deb in cpack's output"

# Control data: name, dependencies from Debian packages, maintainer scripts, conffiles.
info=$(dpkg-deb --info "$deb")
grep -q '^ Package: fedrelay$' <<<"$info" || fail "package name"
depends=$(dpkg-deb --field "$deb" Depends)
names=$(sed 's/ *([^)]*)//g; s/, */\n/g' <<<"$depends")  # one package name per line
for dep in adduser systemd libc6 libstdc++6 libsodium23 libgrpc++1.51 libprotobuf32 libyaml-cpp0.7; do
  grep -qxF -- "$dep" <<<"$names" || fail "Depends lacks $dep: $depends"
done
mkdir "$scratch/control"
dpkg-deb --control "$deb" "$scratch/control"
[ "$(cat "$scratch/control/conffiles")" = /etc/fedrelay/fedrelay.yaml ] || fail "conffiles"
for script in postinst prerm postrm; do
  [ -x "$scratch/control/$script" ] || fail "$script missing or not executable"
done
grep -q 'adduser --system --group' "$scratch/control/postinst" || fail "postinst creates no system user"

# The file list.
contents=$(dpkg-deb --contents "$deb" | awk '{print $NF}')
for path in ./usr/bin/fedrelayd ./usr/bin/fedrelay-ctl ./usr/bin/fedrelay-client ./usr/bin/fedrelay-audit \
            ./usr/bin/fedrelay-fanout \
            ./etc/fedrelay/fedrelay.yaml ./usr/lib/systemd/system/fedrelay.service \
            ./usr/share/doc/fedrelay/examples/fedrelay.example.yaml ./usr/share/doc/fedrelay/operator-guide.md; do
  grep -qx -- "$path" <<<"$contents" || fail "$path is not in the package"
done
if grep -q -- '-bench\|_tests$' <<<"$contents"; then fail "test or bench binaries in the package"; fi

# Unpacked into a scratch root: the binaries run, the config is valid.
root="$scratch/root"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/fedrelayd" --help >/dev/null || fail "fedrelayd --help"
"$root/usr/bin/fedrelay-ctl" --help >/dev/null || fail "fedrelay-ctl --help"
"$root/usr/bin/fedrelayd" check-config --config "$root/etc/fedrelay/fedrelay.yaml" >/dev/null ||
  fail "the packaged config does not pass check-config"

# The unit: dedicated user, state directory, graceful SIGTERM stop, restart on failure, hardening.
unit="$root/usr/lib/systemd/system/fedrelay.service"
for line in User=fedrelay Group=fedrelay StateDirectory=fedrelay StateDirectoryMode=0700 \
            KillSignal=SIGTERM Restart=on-failure NoNewPrivileges=yes ProtectSystem=strict \
            ProtectHome=yes PrivateTmp=yes CapabilityBoundingSet= \
            'ExecStart=/usr/bin/fedrelayd --config /etc/fedrelay/fedrelay.yaml'; do
  grep -qx -- "$line" "$unit" || fail "the unit lacks '$line'"
done
if command -v systemd-analyze >/dev/null; then
  # The unit as packaged, its ExecStart= pointed at the unpacked binary (the host has none in /usr/bin).
  sed "s|/usr/bin/fedrelayd|$root/usr/bin/fedrelayd|g" "$unit" >"$scratch/fedrelay.service"
  out=$(systemd-analyze verify "$scratch/fedrelay.service" 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
else
  echo "systemd-analyze not installed: unit syntax check skipped"
fi
echo "PASS: $(basename "$deb")"
