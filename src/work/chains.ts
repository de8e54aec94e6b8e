import { address as btcAddress, type Network } from 'bitcoinjs-lib';
import { decodeAddress, type NetworkName } from './address.js';

/**
 * One home for chain parameters: Litecoin (the parent chain) and the AuxPoW chains merge-mined on it.
 * Aux chains come from a preset by name (dogecoin) or from a generic entry in the config giving the same
 * fields, so an operator can add any AuxPoW Scrypt chain without code.
 */

export interface AddressVersions {
  /** Base58 P2PKH version byte. */
  pubKeyHash: number;
  /** Base58 P2SH version byte. */
  scriptHash: number;
  /** bech32 human-readable part, when the chain has segwit addresses. */
  bech32?: string;
}

export interface AuxChainParams {
  /** Name used in config, database (`blocks.chain`), metrics labels and the miner's password option. */
  name: string;
  /** Unit shown to people (DOGE). Amounts are always integers of 1e-8 unit. */
  unit: string;
  /** AuxPoW chain id (Dogecoin 98). */
  chainId: number;
  addressVersions: AddressVersions;
  /** Confirmations before a coinbase is spendable (and credited). */
  maturity: number;
  /** Short names accepted in the password option besides the name (doge=...). */
  aliases: string[];
}

/** Litecoin's own name everywhere a chain is named (database, metrics, API). */
export const LITECOIN_CHAIN = 'litecoin';
export const LITECOIN_UNIT = 'LTC';

interface AuxPreset {
  unit: string;
  chainId: number;
  addressVersions: Record<NetworkName, AddressVersions>;
  maturity: Record<NetworkName, number>;
  aliases: string[];
}

/** Presets, checked against a real node (see shared MERGED-MINING.md). */
export const AUX_PRESETS: Record<string, AuxPreset> = {
  dogecoin: {
    unit: 'DOGE',
    chainId: 98,
    addressVersions: {
      mainnet: { pubKeyHash: 30, scriptHash: 22 },
      testnet: { pubKeyHash: 113, scriptHash: 196 },
      regtest: { pubKeyHash: 111, scriptHash: 196 },
    },
    maturity: { mainnet: 240, testnet: 240, regtest: 60 },
    aliases: ['doge'],
  },
};

/** Chain ids of well-known AuxPoW Scrypt chains (for the aux tree table and the generic entry's docs). */
export const KNOWN_AUX_CHAIN_IDS: Record<string, number> = {
  dogecoin: 98,
  bellscoin: 16,
  pepecoin: 63,
  luckycoin: 8211,
  junkcoin: 8224,
  dingocoin: 50,
  shibacoin: 74,
};

/** The fields of a generic (non-preset) aux entry; a preset entry may override any of them. */
export interface AuxChainOverrides {
  chainId?: number;
  unit?: string;
  maturity?: number;
  addressVersions?: AddressVersions;
}

/** Parameters of an aux chain on a network: the preset (if any) with the entry's overrides. */
export function resolveAuxChain(name: string, network: NetworkName, overrides: AuxChainOverrides = {}): AuxChainParams {
  const preset = AUX_PRESETS[name];
  const chainId = overrides.chainId ?? preset?.chainId;
  const unit = overrides.unit ?? preset?.unit;
  const maturity = overrides.maturity ?? preset?.maturity[network];
  const addressVersions = overrides.addressVersions ?? preset?.addressVersions[network];
  const missing: string[] = [];
  if (chainId === undefined) missing.push('chainId');
  if (unit === undefined) missing.push('unit');
  if (maturity === undefined) missing.push('maturity');
  if (addressVersions === undefined) missing.push('addressVersions');
  if (missing.length > 0) {
    throw new Error(`chain "${name}" has no preset (known: ${Object.keys(AUX_PRESETS).join(', ')}): give ${missing.join(', ')}`);
  }
  if (name === LITECOIN_CHAIN) throw new Error(`"${LITECOIN_CHAIN}" is the parent chain, not an aux chain`);
  return { name, unit: unit!, chainId: chainId!, addressVersions: addressVersions!, maturity: maturity!, aliases: preset?.aliases ?? [] };
}

function bitcoinjsNetwork(v: AddressVersions): Network {
  return {
    messagePrefix: '\x19Aux Signed Message:\n',
    bech32: v.bech32 ?? 'invalid-no-bech32',
    pubKeyHash: v.pubKeyHash,
    scriptHash: v.scriptHash,
    wif: 0x80,
    bip32: { public: 0, private: 0 },
  };
}

/** Output script paying `address` on an aux chain; throws with a reason naming the chain otherwise. */
export function decodeAuxAddress(chain: AuxChainParams, address: string): Buffer {
  if (typeof address !== 'string' || address.length === 0) throw new Error(`invalid ${chain.name} address: empty`);
  if (address.length > 90) throw new Error(`invalid ${chain.name} address "${address.slice(0, 90)}…": too long`);
  const v = chain.addressVersions;
  if (!v.bech32) {
    // base58 only: bitcoinjs would try bech32 with any prefix, so decode base58 and check the version ourselves.
    let decoded: { version: number; hash: Uint8Array };
    try {
      decoded = btcAddress.fromBase58Check(address);
    } catch (error) {
      throw new Error(`invalid ${chain.name} address "${address}": ${(error as Error).message}`);
    }
    if (decoded.hash.length !== 20) throw new Error(`invalid ${chain.name} address "${address}": bad length`);
    if (decoded.version === v.pubKeyHash) return Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), decoded.hash, Buffer.from([0x88, 0xac])]);
    if (decoded.version === v.scriptHash) return Buffer.concat([Buffer.from([0xa9, 0x14]), decoded.hash, Buffer.from([0x87])]);
    throw new Error(`invalid ${chain.name} address "${address}": version ${decoded.version} is not this network's (${v.pubKeyHash} or ${v.scriptHash})`);
  }
  try {
    return Buffer.from(btcAddress.toOutputScript(address, bitcoinjsNetwork(v)));
  } catch (error) {
    throw new Error(`invalid ${chain.name} address "${address}": ${(error as Error).message}`);
  }
}

export function isValidAuxAddress(chain: AuxChainParams, address: string): boolean {
  try {
    decodeAuxAddress(chain, address);
    return true;
  } catch {
    return false;
  }
}

/** Litecoin's output script for an address (the parent chain's entry point in this module). */
export function decodeLitecoinAddress(address: string, network: NetworkName): Buffer {
  return decodeAddress(address, network);
}

/**
 * The miner's aux addresses from the Stratum password: comma-separated `key=value` options where the key is a
 * configured aux chain's name or alias (`d=2400000,doge=D...`). Other options are not ours to judge.
 */
export function parseAuxAddressOptions(password: string, chains: readonly AuxChainParams[]): { entries: Array<[string, string]> } | { error: string } {
  const entries: Array<[string, string]> = [];
  for (const part of password.split(/[,;\s]/)) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const chain = chains.find((c) => c.name === key || c.aliases.includes(key));
    if (!chain) continue;
    const value = part.slice(eq + 1).trim();
    try {
      decodeAuxAddress(chain, value);
    } catch (error) {
      return { error: `${key}=: ${(error as Error).message}` };
    }
    const existing = entries.findIndex(([name]) => name === chain.name);
    if (existing >= 0) entries[existing] = [chain.name, value];
    else entries.push([chain.name, value]);
  }
  return { entries };
}
