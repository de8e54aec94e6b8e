import { createHmac, randomBytes } from 'node:crypto';

/** An `-rpcauth` value as litecoin's share/rpcauth/rpcauth.py prints it: user:salt$HMAC-SHA256(key=salt, password). */
export function rpcauth(user: string, password: string): string {
  const salt = randomBytes(16).toString('hex');
  return `${user}:${salt}$${createHmac('sha256', salt).update(password).digest('hex')}`;
}
