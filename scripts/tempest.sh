#!/usr/bin/env bash
# `make tempest`: Tempest's network API suite and neutron-tempest-plugin's API
# suite (the kit in ../shared/peers/tempest) against a fresh Quark on
# PostgreSQL, authenticated by the kit's Keystone, with a real network node:
# a `quark agent --l3` (and its L2 part) in a network namespace of its own, so
# router ports become ACTIVE because a host realised them, as Tempest waits
# for (stock Neutron's baseline skips that wait by advertising `dvr`).
#
#   scripts/tempest.sh [EXTRA_REGEX]        SUITES="tempest" scripts/tempest.sh
#
# Everything it starts (server, agent, namespaces, router namespaces) is
# stopped and removed on exit, whatever failed. Prints the kit's totals last.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KIT=${TEMPEST_KIT:-$ROOT/../shared/peers/tempest}
[[ -x $KIT/run.sh ]] || { echo "no Tempest kit at $KIT (set TEMPEST_KIT)" >&2; exit 2; }
PORT=${QUARK_TEMPEST_PORT:-9711}
DB=${QUARK_TEMPEST_DB:-quark_tempest}
WORK=$(mktemp -d /tmp/quark-tempest-run.XXXXXX)
TAG=qt$$-                     # prefix of every namespace this run creates
HOSTNS=${TAG}net1             # the network node's "host" namespace
KEYSTONE=http://127.0.0.1:${KEYSTONE_PORT:-5000}
QUARK=$ROOT/.venv/bin/quark
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    # the agent removes its routers' namespaces as routers go; a killed one may leave some
    for ns in $(ip netns list | awk '{print $1}' | grep "^$TAG" || true); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns delete "$ns" 2>/dev/null || true
    done
    echo "[tempest] logs: $WORK"
}
trap cleanup EXIT

cat > "$WORK/quark.toml" <<EOF
[quark]
database_url = "postgresql+asyncpg://postgres@127.0.0.1:5432/$DB"
host = "127.0.0.1"
port = $PORT
workers = 2
auth_strategy = "keystone"
# Neutron's baseline ran with quota_router = 100 (Tempest creates many routers)
quota_router = 100

[keystone_authtoken]
www_authenticate_uri = "$KEYSTONE"
auth_url = "$KEYSTONE"
auth_type = "password"
username = "neutron"
password = "${NEUTRON_PASSWORD:-neutronpass}"
project_name = "service"
user_domain_name = "Default"
project_domain_name = "Default"

[agent]
api_url = "http://127.0.0.1:$PORT"

[agent.auth]
auth_type = "password"
auth_url = "$KEYSTONE/v3"
username = "neutron"
password = "${NEUTRON_PASSWORD:-neutronpass}"
project_name = "service"
user_domain_name = "Default"
project_domain_name = "Default"
EOF
export QUARK_CONFIG=$WORK/quark.toml

make install test-deps >/dev/null
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"$QUARK" db upgrade

# Keystone and the service user the server and the agent authenticate as
# (run.sh does both again; they are idempotent).
"$KIT/install.sh" keystone tempest >/dev/null 2>&1
"$KIT/keystone_start.sh" 9>&-
"${TEMPEST_KIT_HOME:-/tmp/quark-tempest}/keystone/venv/bin/python" "$KIT/register_network.py" "http://127.0.0.1:$PORT"

"$QUARK" serve > "$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 1; done

# VLAN ids for physnet1, as the Neutron kit's ML2 config has them
# (network_vlan_ranges physnet1:100:4000; Tempest's provider_vlans = physnet1).
TOKEN=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' "$KEYSTONE/v3/auth/tokens" -d '{"auth":
  {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"},
   "password": "'"${ADMIN_PASSWORD:-secretadmin}"'"}}},
   "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}' |
  awk 'tolower($1) == "x-subject-token:" {print $2}' | tr -d '\r')
curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$PORT/v2.0/segment_allocation_ranges" -d '{"segment_allocation_range":
  {"network_type": "vlan", "physical_network": "physnet1", "minimum": 100, "maximum": 4000, "name": "tempest"}}'

# The network node: its own namespace, a NIC for physnet1 (the kit's external
# network tempest-public is flat on physnet1) and a tunnel address for VXLAN.
ip netns add "$HOSTNS"
ip -n "$HOSTNS" link set lo up
ip -n "$HOSTNS" link add phys1 type veth peer name phys1p
ip -n "$HOSTNS" link set phys1p up
ip -n "$HOSTNS" link add tun0 type veth peer name tun0p   # (this kernel has no dummy module)
ip -n "$HOSTNS" link set tun0p up
ip -n "$HOSTNS" addr add 10.254.0.1/24 dev tun0
ip -n "$HOSTNS" link set tun0 up
"$QUARK" agent --host tempest-network-1 --netns "$HOSTNS" --l3 --namespace-prefix "$TAG" \
    --bridge-mappings physnet1:phys1 --tunnel-ip 10.254.0.1 > "$WORK/agent.log" 2>&1 &
PIDS+=($!)

"$KIT/run.sh" "http://127.0.0.1:$PORT" "$@"
