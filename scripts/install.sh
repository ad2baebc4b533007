#!/usr/bin/env bash
# Installs everything cnspect needs on a Debian 12 host (run as root): the OS tools it drives
# and reads with, the npm dependencies, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (it installs Debian packages; captures need root too)" >&2
  exit 1
fi
apt-get update -qq
# tcpdump: capture engine; bpftrace: drop reasons (skb:kfree_skb); iproute2/util-linux:
# namespaces and interfaces; tshark: independent pcapng reader for the tests; iputils-ping and
# nftables/iptables: test traffic, drop rules and kube-proxy-like service rules; openssl: an
# independent reader of the certificates cnspect issues.
apt-get install -y -qq --no-install-recommends \
  tcpdump bpftrace iproute2 util-linux tshark iputils-ping nftables iptables openssl >/dev/null
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
npm ci --no-audit --no-fund
npm run build
