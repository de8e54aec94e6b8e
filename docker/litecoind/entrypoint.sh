#!/bin/sh
# Starts litecoind for the pool and makes sure the payout wallet "pool" is loaded. Environment:
#   LITECOIN_NETWORK     mainnet | testnet | regtest (default mainnet)
#   LITECOIN_RPC_CONF_FILE  a config file with the RPC users (rpcauth, rpcwhitelist: docker/make-secrets.sh writes
#                        it, a docker secret); litecoin-cli then uses the cookie. Or, without it:
#   LITECOIN_RPC_USER, LITECOIN_RPC_PASSWORD   one RPC user (the pool's LTCPOOL_RPC_URL carries the same)
#   LITECOIN_RPC_THREADS     -rpcthreads (default 16: plenty for up to ~20 pool instances, payouts and your
#                        litecoin-cli; 3 or 6 instances measured here used at most 2 threads at once, README Scale-out)
#   LITECOIN_RPC_WORKQUEUE   -rpcworkqueue (default 64: calls queued while every thread is busy; above it
#                        litecoind answers HTTP 503 "Work queue depth exceeded")
#   LITECOIN_EXTRA_ARGS  extra litecoind arguments
set -eu
case "${LITECOIN_NETWORK:-mainnet}" in
  mainnet) net="" ;;
  testnet) net="-testnet" ;;
  regtest) net="-regtest" ;;
  *) echo "LITECOIN_NETWORK must be mainnet, testnet or regtest, got '${LITECOIN_NETWORK}'" >&2; exit 64 ;;
esac
if [ -n "${LITECOIN_RPC_CONF_FILE:-}" ]; then
  [ -r "$LITECOIN_RPC_CONF_FILE" ] || { echo "LITECOIN_RPC_CONF_FILE $LITECOIN_RPC_CONF_FILE is not readable" >&2; exit 66; }
  # rpcauth lines (salted hashes) from the file; no password on the command line. litecoin-cli uses the cookie.
  set -- "-conf=$LITECOIN_RPC_CONF_FILE"
else
  : "${LITECOIN_RPC_USER:?set LITECOIN_RPC_USER (or LITECOIN_RPC_CONF_FILE)}"
  : "${LITECOIN_RPC_PASSWORD:?set LITECOIN_RPC_PASSWORD (or LITECOIN_RPC_CONF_FILE)}"
  set -- "-rpcuser=$LITECOIN_RPC_USER" "-rpcpassword=$LITECOIN_RPC_PASSWORD"
fi

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
  "$@" \
  -rpcworkqueue="${LITECOIN_RPC_WORKQUEUE:-64}" \
  -rpcthreads="${LITECOIN_RPC_THREADS:-16}" \
  ${LITECOIN_EXTRA_ARGS:-} &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

# 0.21 creates no default wallet and -wallet only loads existing ones: load "pool", or create it the first time.
if [ -n "${LITECOIN_RPC_CONF_FILE:-}" ]; then
  cli() { litecoin-cli $net -datadir=/data -rpcport=9332 "$@"; }
else
  cli() { litecoin-cli $net -datadir=/data -rpcport=9332 -rpcuser="$LITECOIN_RPC_USER" -rpcpassword="$LITECOIN_RPC_PASSWORD" "$@"; }
fi
if cli -rpcwait getblockcount >/dev/null; then
  cli loadwallet pool >/dev/null 2>&1 || cli createwallet pool >/dev/null 2>&1 || echo "wallet 'pool': could not load or create (already loaded?)" >&2
fi

set +e
wait "$pid"
status=$?
# wait returns early when the trap fires; wait again for litecoind's own clean shutdown.
kill -0 "$pid" 2>/dev/null && wait "$pid" && status=$?
exit "$status"
