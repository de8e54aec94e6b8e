import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/ops/logger.js';
import { describeDatabaseError, withDefaultUser } from '../../src/store/db.js';

// Issue 10: node-pg takes $USER for a URL without a user; a service or container environment may have none.
describe('withDefaultUser (libpq: PGUSER, else the operating system user)', () => {
  const os = () => 'pooluser';
  it.each([
    ['postgres://127.0.0.1:5432/ltcpool', {}, 'postgres://pooluser@127.0.0.1:5432/ltcpool'],
    ['postgres://alice@127.0.0.1/ltcpool', {}, 'postgres://alice@127.0.0.1/ltcpool'],
    ['postgres://:secret@db.example/ltcpool', {}, 'postgres://pooluser:secret@db.example/ltcpool'],
    ['postgres://127.0.0.1/ltcpool', { PGUSER: 'bob' }, 'postgres://127.0.0.1/ltcpool'],
    ['postgresql:///ltcpool?host=/run/postgresql', {}, 'postgresql:///ltcpool?host=%2Frun%2Fpostgresql&user=pooluser'],
    ['postgres://127.0.0.1/ltcpool?user=carol', {}, 'postgres://127.0.0.1/ltcpool?user=carol'],
  ])('%s %j', (url, env, expected) => {
    expect(withDefaultUser(url, env, os)).toBe(expected);
  });

  it('takes the real operating system user when none is given', () => {
    expect(withDefaultUser('postgres://127.0.0.1/x', {})).toMatch(/^postgres:\/\/[^@:]+@127\.0\.0\.1\/x$/);
  });
});

describe('describeDatabaseError', () => {
  const err = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`boom ${code}`), { code, ...extra });
  it.each([
    [err('ECONNREFUSED', { address: '127.0.0.1', port: 5432 }), 'ECONNREFUSED 127.0.0.1:5432 — is PostgreSQL running? (database.url / DATABASE_URL)'],
    [err('28P01'), 'PostgreSQL at db.example:6543 refused the password for user "pool" (28P01)'],
    [err('3D000'), 'PostgreSQL at db.example:6543 has no database "ltc" (3D000): create it (createdb ltc), then run ltcpool migrate'],
    [err('ENOTFOUND', { hostname: 'db.example' }), 'ENOTFOUND db.example: the database host name does not resolve (database.url / DATABASE_URL)'],
  ])('%s', (error, expected) => {
    expect(describeDatabaseError(error, 'postgres://pool:secret@db.example:6543/ltc')).toBe(expected);
  });

  it('leaves other errors alone and never prints the password', () => {
    expect(describeDatabaseError(new Error('something else'), 'postgres://pool:secret@h/d')).toBeUndefined();
    expect(describeDatabaseError(err('28P01'), 'postgres://pool:secret@h/d')).not.toContain('secret');
  });
});

describe('redactUrl (database and node URLs in logs and messages)', () => {
  it.each([
    ['postgres://pool:s3cret@127.0.0.1:5432/ltcpool', 'postgres://pool:***@127.0.0.1:5432/ltcpool'],
    ['postgres://127.0.0.1/ltcpool?user=pool&password=s3cret&sslkey=/k.pem', 'postgres://127.0.0.1/ltcpool?user=pool&password=***&sslkey=***'],
    ['http://rpcuser:rpcpass@127.0.0.1:19332/', 'http://rpcuser:***@127.0.0.1:19332/'],
    ['postgres://127.0.0.1/ltcpool', 'postgres://127.0.0.1/ltcpool'],
    ['not a url', '[unparseable url]'],
  ])('%s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});
