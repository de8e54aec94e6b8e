// The dev network (real litecoind regtest, PostgreSQL) lives in src/devnet so `ltcpool demo` can use it too.
export * from '../../src/devnet/litecoind.js';
