import pino, { type Logger } from 'pino';

/** Paths pino blanks out wherever they appear in a log object. */
export const REDACT_PATHS = [
  'password',
  'rpcPassword',
  'rpcUrl',
  'databaseUrl',
  'url',
  '*.password',
  '*.rpcUrl',
  '*.url',
  '*.databaseUrl',
  'config.node.rpcUrl',
  'config.database.url',
  'node.rpcUrl',
  'database.url',
];

let root: Logger | undefined;

export function configureLogging(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const level = options.level ?? process.env.LTCPOOL_LOG_LEVEL ?? 'info';
  root = pino({ level, base: { service: 'ltcpool' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, options.destination);
  return root;
}

export function createLogger(name?: string): Logger {
  const base = root ?? configureLogging();
  return name ? base.child({ module: name }) : base;
}

/** The URL with its password and secret-named query values replaced, safe for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|key|token/i.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
