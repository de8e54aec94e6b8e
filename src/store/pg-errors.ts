/**
 * Classifies errors from node-postgres: "the database is unreachable" (spool and retry later)
 * versus "the database rejected this data" (spooling would only replay the same failure).
 */

const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ENOENT' /* unix socket missing */,
]);

// SQLSTATEs meaning the server is (temporarily) not able to take our writes, whatever the data.
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / recovery)
  '57P05', // idle_session_timeout
  '53000', // insufficient_resources
  '53100', // disk_full
  '53200', // out_of_memory
  '53300', // too_many_connections
  '58000', // system_error
  '58030', // io_error
  '25006', // read_only_sql_transaction (failover to a standby)
  '40001', // serialization_failure: retry
  '40P01', // deadlock_detected: retry
]);

const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /query read timeout/i,
  /connection timeout/i,
  /client has encountered a connection error/i,
  /client was closed and is not queryable/i,
  /cannot use a pool after calling end/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /server closed the connection unexpectedly/i,
];

export function isDatabaseUnavailableError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; errno?: unknown; message?: unknown; errors?: unknown };
  // AggregateError from net.connect with several addresses (IPv4 + IPv6).
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isDatabaseUnavailableError)) return true;
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code !== undefined) {
    if (CONNECTION_ERRNOS.has(code)) return true;
    if (code.startsWith('08')) return true; // connection_exception class
    if (UNAVAILABLE_SQLSTATES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false; // any other SQLSTATE: the server answered, it is a data/SQL error
  }
  const message = typeof e.message === 'string' ? e.message : '';
  return CONNECTION_MESSAGES.some((re) => re.test(message));
}
