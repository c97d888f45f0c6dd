#!/usr/bin/env bash
# System tools the dataplane (quark agent / quark dhcp) and its tests need:
# dnsmasq (DHCP server), a DHCP client, ping, iproute2 and nftables (the L3 part's NAT);
# ovn-central (ovsdb-server with the OVN NB/SB schemas, ovn-northd, ovn-nbctl/sbctl) for the
# OVN driver's tests, which start their own instances (tests/ovn.py); openvswitch-switch and ovn-host
# (ovs-vswitchd, ovn-controller) for a userspace-datapath hypervisor in those tests; mariadb-server, galera-4
# and rsync for the Galera tests (tests/galera.py starts a 3-node cluster); chromium and
# chromium-driver for the dashboard's browser tests. Idempotent: installs
# only what is missing, and does nothing at all when everything is there.
set -euo pipefail

missing=()
need() {  # need COMMAND PACKAGE
    if ! command -v "$1" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$1" ] && ! [ -x "/sbin/$1" ]; then
        missing+=("$2")
    fi
}
need dnsmasq dnsmasq-base
need dhclient isc-dhcp-client
need ping iputils-ping
need ip iproute2
need bridge iproute2
need nft nftables
need conntrack conntrack
need ovn-northd ovn-central
need ovn-nbctl ovn-central
need ovsdb-server ovn-central
# a hypervisor on Open vSwitch's userspace datapath for the OVN datapath test (no kernel module needed)
need ovs-vswitchd openvswitch-switch
need ovn-controller ovn-host
need ethtool ethtool  # the datapath tests' veths checksum in software (tests/ovn.py)
# the Galera tests (tests/galera.py): three mariadbd with the galera-4 provider, rsync for state transfers
need mariadbd mariadb-server
need mariadb-install-db mariadb-server
need rsync rsync
if ! [ -e /usr/lib/galera/libgalera_smm.so ]; then
    missing+=(galera-4)
fi
# headless Chromium and its WebDriver for the dashboard's browser tests (tests/dashboard/)
need chromium chromium
need chromedriver chromium-driver

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
# De-duplicate (ip and bridge come from one package).
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
    echo "install-dataplane-deps: missing ${pkgs[*]} (run as root to install them)" >&2
    exit 0
fi
echo "install-dataplane-deps: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
