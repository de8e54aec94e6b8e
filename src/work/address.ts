import { address as btcAddress, type Network } from 'bitcoinjs-lib';

export type NetworkName = 'mainnet' | 'testnet' | 'regtest';

interface LitecoinNetwork {
  bitcoinjs: Network;
  /** Old P2SH version byte litecoind still decodes ('3' on mainnet, '2' on testnet/regtest). */
  legacyScriptHash: number;
  mwebHrp: string;
}

function network(bech32: string, pubKeyHash: number, scriptHash: number, wif: number, bip32: [number, number]): Network {
  return { messagePrefix: '\x19Litecoin Signed Message:\n', bech32, pubKeyHash, scriptHash, wif, bip32: { public: bip32[0], private: bip32[1] } };
}

export const LITECOIN_NETWORKS: Record<NetworkName, LitecoinNetwork> = {
  mainnet: { bitcoinjs: network('ltc', 0x30, 0x32, 0xb0, [0x0488b21e, 0x0488ade4]), legacyScriptHash: 0x05, mwebHrp: 'ltcmweb' },
  testnet: { bitcoinjs: network('tltc', 0x6f, 0x3a, 0xef, [0x043587cf, 0x04358394]), legacyScriptHash: 0xc4, mwebHrp: 'tmweb' },
  regtest: { bitcoinjs: network('rltc', 0x6f, 0x3a, 0xef, [0x043587cf, 0x04358394]), legacyScriptHash: 0xc4, mwebHrp: 'tmweb' },
};

export class AddressError extends Error {
  constructor(readonly address: string, reason: string) {
    super(`invalid Litecoin address "${address.slice(0, 130)}": ${reason}`);
    this.name = 'AddressError';
  }
}

/** The output script paying `address` on `networkName`; throws AddressError with the reason otherwise. */
export function decodeAddress(address: string, networkName: NetworkName): Buffer {
  const params = LITECOIN_NETWORKS[networkName];
  if (!params) throw new AddressError(address, `unknown network ${networkName}`);
  if (typeof address !== 'string' || address.length === 0) throw new AddressError(String(address), 'empty');
  if (address.length > 130) throw new AddressError(address, 'too long');
  if (address.toLowerCase().startsWith(params.mwebHrp + '1')) {
    throw new AddressError(address, 'MWEB addresses have no output script and cannot receive a coinbase or pool payout');
  }
  const witness = witnessProgram(address, params.bitcoinjs.bech32);
  if (witness) return witness;
  try {
    return Buffer.from(btcAddress.toOutputScript(address, params.bitcoinjs));
  } catch (firstError) {
    const legacy = { ...params.bitcoinjs, scriptHash: params.legacyScriptHash };
    try {
      return Buffer.from(btcAddress.toOutputScript(address, legacy));
    } catch {
      throw new AddressError(address, `not a ${networkName} address (${(firstError as Error).message})`);
    }
  }
}

/**
 * Segwit v1+ (bech32m) outputs are built here: bitcoinjs-lib only encodes taproot with an ECC library
 * loaded, and a pool never needs to check the key, just to pay the program.
 */
function witnessProgram(address: string, hrp: string): Buffer | undefined {
  if (!address.toLowerCase().startsWith(hrp + '1')) return undefined;
  let decoded: { version: number; prefix: string; data: Uint8Array };
  try {
    decoded = btcAddress.fromBech32(address);
  } catch (error) {
    throw new AddressError(address, `bad bech32 encoding (${(error as Error).message})`);
  }
  if (decoded.prefix !== hrp) throw new AddressError(address, `wrong bech32 prefix ${decoded.prefix}, expected ${hrp}`);
  if (decoded.version === 0) return undefined;
  if (decoded.version > 16 || decoded.data.length < 2 || decoded.data.length > 40) {
    throw new AddressError(address, 'invalid witness program');
  }
  return Buffer.concat([Buffer.from([0x50 + decoded.version, decoded.data.length]), decoded.data]);
}

export function isValidAddress(address: string, networkName: NetworkName): boolean {
  try {
    decodeAddress(address, networkName);
    return true;
  } catch {
    return false;
  }
}
