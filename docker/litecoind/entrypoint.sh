#!/bin/sh
# Starts litecoind for the pool and makes sure the payout wallet "pool" is loaded. Environment:
#   LITECOIN_NETWORK     mainnet | testnet | regtest (default mainnet)
#   LITECOIN_RPC_USER, LITECOIN_RPC_PASSWORD   RPC credentials (the pool's LTCPOOL_RPC_URL carries the same)
#   LITECOIN_EXTRA_ARGS  extra litecoind arguments
set -eu
case "${LITECOIN_NETWORK:-mainnet}" in
  mainnet) net="" ;;
  testnet) net="-testnet" ;;
  regtest) net="-regtest" ;;
  *) echo "LITECOIN_NETWORK must be mainnet, testnet or regtest, got '${LITECOIN_NETWORK}'" >&2; exit 64 ;;
esac
: "${LITECOIN_RPC_USER:?set LITECOIN_RPC_USER}"
: "${LITECOIN_RPC_PASSWORD:?set LITECOIN_RPC_PASSWORD}"

# /usr/bin/litecoind is a Debian wrapper that writes ~/.litecoin; run the real binary with an explicit datadir.
# The Debian build has no ZMQ: the pool detects new blocks by polling getbestblockhash (no RPC thread held).
# shellcheck disable=SC2086
/usr/lib/litecoin/litecoind $net \
  -datadir=/data \
  -printtoconsole \
  -server \
  -rpcport=9332 \
  -rpcbind=0.0.0.0 \
  -rpcallowip=10.0.0.0/8 -rpcallowip=172.16.0.0/12 -rpcallowip=192.168.0.0/16 \
  -rpcuser="$LITECOIN_RPC_USER" \
  -rpcpassword="$LITECOIN_RPC_PASSWORD" \
  -rpcworkqueue=64 \
  -rpcthreads=16 \
  ${LITECOIN_EXTRA_ARGS:-} &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

# 0.21 creates no default wallet and -wallet only loads existing ones: load "pool", or create it the first time.
cli() { litecoin-cli $net -datadir=/data -rpcport=9332 -rpcuser="$LITECOIN_RPC_USER" -rpcpassword="$LITECOIN_RPC_PASSWORD" "$@"; }
if cli -rpcwait getblockcount >/dev/null; then
  cli loadwallet pool >/dev/null 2>&1 || cli createwallet pool >/dev/null 2>&1 || echo "wallet 'pool': could not load or create (already loaded?)" >&2
fi

set +e
wait "$pid"
status=$?
# wait returns early when the trap fires; wait again for litecoind's own clean shutdown.
kill -0 "$pid" 2>/dev/null && wait "$pid" && status=$?
exit "$status"
