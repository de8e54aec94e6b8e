import { describe, expect, it } from 'vitest';
import mainnetBlocks from '../fixtures/mainnet/blocks.json' with { type: 'json' };
import blockPreMweb from '../fixtures/regtest/block-pre-mweb.json' with { type: 'json' };
import blockMwebActivation from '../fixtures/regtest/block-mweb-activation.json' with { type: 'json' };
import blockMwebEmpty from '../fixtures/regtest/block-mweb-empty.json' with { type: 'json' };
import blockMwebWithTxs from '../fixtures/regtest/block-mweb-with-txs.json' with { type: 'json' };
import gbtPreMweb from '../fixtures/regtest/gbt-pre-mweb.json' with { type: 'json' };
import gbtMwebActivation from '../fixtures/regtest/gbt-mweb-activation.json' with { type: 'json' };
import gbtMwebEmpty from '../fixtures/regtest/gbt-mweb-empty.json' with { type: 'json' };
import gbtMwebWithTxs from '../fixtures/regtest/gbt-mweb-with-txs.json' with { type: 'json' };
import { reversed, sha256d } from '../../src/work/bytes.js';
import { bip34HeightPush, serializeOutputs } from '../../src/work/coinbase.js';
import { blockHash } from '../../src/work/header.js';
import { buildJob, notifyParams } from '../../src/work/job.js';
import { merkleRoot } from '../../src/work/merkle.js';
import { blockForShare, buildShareWork, checkShareFields } from '../../src/work/share.js';
import { decodeAddress } from '../../src/work/address.js';
import type { BlockTemplate } from '../../src/work/template.js';
import { stripWitness } from '../support/tx.js';

const regtestCases = [
  { name: 'pre-mweb (height 102)', block: blockPreMweb, template: gbtPreMweb },
  { name: 'mweb activation (height 432, peg-in + HogEx)', block: blockMwebActivation, template: gbtMwebActivation },
  { name: 'mweb empty (height 433, HogEx only)', block: blockMwebEmpty, template: gbtMwebEmpty },
  { name: 'mweb with txs (height 434)', block: blockMwebWithTxs, template: gbtMwebWithTxs },
];

describe('pool-built regtest blocks reproduce byte for byte', () => {
  it.each(regtestCases)('$name', ({ block, template }) => {
    const reference = block.pool_built_block_from_template;
    const tpl = template as unknown as BlockTemplate;
    const extranonce = Buffer.from(reference.extranonce_in_scriptSig, 'hex');
    const job = buildJob(tpl, {
      id: '1',
      payoutScript: decodeAddress(reference.payout_address, 'regtest'),
      poolTag: Buffer.from(reference.pool_tag, 'hex'),
      extranonce1Size: 4,
      extranonce2Size: 4,
      createdAt: 0,
    });
    expect(decodeAddress(reference.payout_address, 'regtest').toString('hex')).toBe(reference.payout_scriptPubKey);
    expect(job.coinb1.toString('hex')).toBe(reference.coinb1_nonwitness_hex);
    expect(job.coinb2.toString('hex')).toBe(reference.coinb2_nonwitness_hex);
    expect(job.merkleBranch.map((h) => h.toString('hex'))).toEqual(reference.merkle_branch_internal_hex);

    const header = Buffer.from(reference.header_hex, 'hex');
    const fields = checkShareFields(
      job,
      {
        extranonce2: extranonce.subarray(4).toString('hex'),
        ntime: header.readUInt32LE(68).toString(16).padStart(8, '0'),
        nonce: header.readUInt32LE(76).toString(16).padStart(8, '0'),
      },
      { extranonce2Size: 4, versionMask: 0, now: tpl.curtime, maxFutureSeconds: 600 },
    );
    if (!fields.ok) throw new Error(fields.message);
    const work = buildShareWork(job, extranonce.subarray(0, 4), fields.share);
    expect(reversed(sha256d(work.coinbase)).toString('hex')).toBe(reference.coinbase_txid);
    expect(work.merkleRoot.toString('hex')).toBe(reference.merkle_root_internal_hex);
    expect(work.header.toString('hex')).toBe(reference.header_hex);
    expect(blockHash(work.header)).toBe(reference.block_hash);
    expect(blockForShare(job, work).toString('hex')).toBe(reference.block_hex);
  });

  it.each(regtestCases)('$name: notify prevhash is the word-swapped internal prevhash', ({ template }) => {
    const tpl = template as unknown as BlockTemplate;
    const job = buildJob(tpl, { id: 'ab', payoutScript: Buffer.from('51', 'hex'), poolTag: Buffer.alloc(0), extranonce1Size: 4, extranonce2Size: 4, createdAt: 0 });
    const params = notifyParams(job, true);
    const internal = reversed(Buffer.from(tpl.previousblockhash, 'hex'));
    const words = Buffer.from(params[1], 'hex');
    for (let i = 0; i < 32; i += 4) expect(words.subarray(i, i + 4)).toEqual(Buffer.from(internal.subarray(i, i + 4)).reverse());
    expect(params[5]).toBe(tpl.version.toString(16).padStart(8, '0'));
    expect(params[6]).toBe(tpl.bits);
    expect(params[8]).toBe(true);
  });

  it('the litecoind-mined MWEB block ends with 01 + the template mweb, and the HogEx is the last tx', () => {
    expect(blockMwebWithTxs.raw_hex.endsWith('01' + gbtMwebWithTxs.mweb)).toBe(true);
    const last = gbtMwebWithTxs.transactions[gbtMwebWithTxs.transactions.length - 1];
    expect(blockMwebWithTxs.raw_hex).toContain(last.data + '01' + gbtMwebWithTxs.mweb);
  });
});

describe('mainnet blocks: coinbase and merkle root', () => {
  it.each(mainnetBlocks)('$name', (block) => {
    const raw = Buffer.from(block.blockHex, 'hex');
    const header = raw.subarray(0, 80);
    expect(blockHash(header)).toBe(block.hash);
    const coinbaseRaw = raw.subarray(block.coinbase.offset, block.coinbase.offset + block.coinbase.size);
    const coinbase = stripWitness(coinbaseRaw);
    const coinbaseTxid = sha256d(coinbase);
    expect(reversed(coinbaseTxid).toString('hex')).toBe(block.coinbase.txid);
    expect(reversed(sha256d(coinbaseRaw)).toString('hex')).toBe(block.coinbase.wtxid);
    const outputs = block.coinbase.outputs.map((o) => ({ value: BigInt(o.valueLitoshi), script: Buffer.from(o.scriptPubKeyHex, 'hex') }));
    expect(coinbase.includes(serializeOutputs(outputs))).toBe(true);
    if (block.coinbase.bip34Height !== null) {
      expect(block.coinbase.scriptSigHex.startsWith(bip34HeightPush(block.height).toString('hex'))).toBe(true);
    }
    // the tree itself: test/fixtures/work/merkle.json (work-merkle.test.ts)
    expect(header.subarray(36, 68)).toEqual(reversed(Buffer.from(block.merkleRoot, 'hex')));
    expect(block.txids[0]).toBe(block.coinbase.txid);
  });

  it('MWEB block 2265985: the HogEx enters the tree by txid, never by sha256d of its data', () => {
    const block = mainnetBlocks.find((b) => b.height === 2265985)!;
    const hogEx = (block as unknown as { hogEx: { index: number; offset: number; size: number; txid: string; sha256dOfFullSerializationNotUsed: string } }).hogEx;
    expect(hogEx.index).toBe(block.txCount - 1);
    const raw = Buffer.from(block.blockHex, 'hex');
    const data = raw.subarray(hogEx.offset, hogEx.offset + hogEx.size);
    expect(reversed(sha256d(data)).toString('hex')).toBe(hogEx.sha256dOfFullSerializationNotUsed);
    expect(block.txids[hogEx.index]).toBe(hogEx.txid);
    const wrong = block.txids.map((t, i) => reversed(Buffer.from(i === hogEx.index ? hogEx.sha256dOfFullSerializationNotUsed : t, 'hex')));
    expect(merkleRoot(wrong)).not.toEqual(reversed(Buffer.from(block.merkleRoot, 'hex')));
    expect(raw[hogEx.offset + hogEx.size]).toBe(0x01);
  });
});
