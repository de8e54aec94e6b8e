import { varInt } from './bytes.js';
import type { BlockTemplate } from './template.js';

/**
 * Full block for submitblock: header ‖ varint(n) ‖ coinbase ‖ template txs (data, in order, unchanged)
 * and, when the template carries `mweb`, 0x01 ‖ mweb after them (the HogEx is already the last tx).
 */
export function assembleBlock(header: Buffer, coinbase: Buffer, template: Pick<BlockTemplate, 'transactions' | 'mweb'>): Buffer {
  const parts: Buffer[] = [header, varInt(template.transactions.length + 1), coinbase];
  for (const tx of template.transactions) parts.push(Buffer.from(tx.data, 'hex'));
  if (template.mweb !== undefined) parts.push(Buffer.from([0x01]), Buffer.from(template.mweb, 'hex'));
  return Buffer.concat(parts);
}
