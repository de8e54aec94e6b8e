import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface TlsFiles {
  cert: string;
  key: string;
  /** Serve plain Stratum too: TLS only for connections that open with a TLS record. */
  optional?: boolean;
}

/** Reads the certificate chain and key named in config; errors name the file that failed. */
export function loadTlsContext(files: TlsFiles): { cert: Buffer; key: Buffer; context: SecureContext } {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`stratum TLS ${what} ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  const cert = read('cert', files.cert);
  const key = read('key', files.key);
  try {
    return { cert, key, context: createSecureContext({ cert, key }) };
  } catch (error) {
    throw new Error(`stratum TLS cert/key ${files.cert}, ${files.key}: ${(error as Error).message}`);
  }
}
