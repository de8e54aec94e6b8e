import type { Logger } from 'pino';
import { NodeScryptHasher, ScryptJsHasher, type ScryptHasher } from '../work/scrypt.js';
import { simdSupported } from './kernel.js';
import { SimdScryptPool, type SimdPoolOptions } from './simd-pool.js';

export type HasherKind = 'simd' | 'node' | 'scrypt-js';

/**
 * The configured Scrypt hasher. `simd` starts the kernel's worker threads and waits for every worker's
 * self-check; if the engine has no WebAssembly SIMD, or the check fails, or the workers cannot start, it logs
 * an error and returns OpenSSL's hasher instead (the pool keeps working, at OpenSSL's speed).
 */
export async function createScryptHasher(
  kind: HasherKind,
  options: {
    threads?: number;
    logger?: Pick<Logger, 'info' | 'error'>;
    /** Set to 1 when simd was asked for and OpenSSL is used instead (ltcpool_scrypt_kernel_fallback), else 0. */
    fallbackGauge?: { set(value: number): void };
  } & Pick<SimdPoolOptions, 'module' | 'vectors'> = {},
): Promise<ScryptHasher> {
  options.fallbackGauge?.set(0);
  if (kind === 'node') return new NodeScryptHasher();
  if (kind === 'scrypt-js') return new ScryptJsHasher();
  const log = options.logger;
  if (!options.module && !simdSupported()) {
    log?.error('stratum.hasher simd: this engine has no WebAssembly SIMD128; FALLING BACK to node (OpenSSL)');
    options.fallbackGauge?.set(1);
    return new NodeScryptHasher();
  }
  const fallback = new NodeScryptHasher();
  const pool = new SimdScryptPool({
    threads: options.threads,
    module: options.module,
    vectors: options.vectors,
    fallback,
    onWorkerError: (err, left) => log?.error({ err, workersLeft: left }, 'scrypt worker failed; its shares are hashed again'),
  });
  try {
    await pool.start();
  } catch (err) {
    log?.error({ err }, 'stratum.hasher simd: the kernel did not start or failed its self-check; FALLING BACK to node (OpenSSL)');
    options.fallbackGauge?.set(1);
    return fallback;
  }
  log?.info({ threads: pool.threads, lanes: pool.lanes }, 'scrypt: WebAssembly SIMD kernel, self-check passed');
  return pool;
}
