import type { RewardScheme, SchemeName } from '../types.js';
import { createPplnsScheme, type PplnsOptions } from './pplns.js';
import { propScheme } from './prop.js';
import { soloScheme } from './solo.js';
import { isPpsScheme, ppsBlockScheme } from './pps.js';

export { createPplnsScheme, pplnsWindow, splitPplns, type PplnsInput, type PplnsOptions, type PplnsWindow } from './pplns.js';
export { propScheme, splitProp, type PropInput } from './prop.js';
export { soloScheme, splitSolo, type SoloInput } from './solo.js';
export { isPpsScheme, ppsBlockScheme, type PpsSchemeName } from './pps.js';
export * from './units.js';

export const SCHEME_NAMES: readonly SchemeName[] = ['pplns', 'prop', 'solo', 'pps', 'fpps'];

/** Schemes an aux chain's blocks can be split by: PPS/FPPS value shares in Litecoin only. */
export const AUX_SCHEME_NAMES = ['pplns', 'prop', 'solo'] as const satisfies readonly SchemeName[];
export type AuxSchemeName = (typeof AUX_SCHEME_NAMES)[number];

/** An aux chain's scheme: its own (merged[].payouts.scheme), else the pool's; PPLNS when the pool's is PPS/FPPS. */
export function auxSchemeName(own: SchemeName | undefined, pool: SchemeName): AuxSchemeName {
  const name = own ?? (isPpsScheme(pool) ? 'pplns' : pool);
  if (!(AUX_SCHEME_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`scheme ${JSON.stringify(name)} cannot split an aux chain's blocks (PPS/FPPS value shares in Litecoin); use one of ${AUX_SCHEME_NAMES.join(', ')}`);
  }
  return name as AuxSchemeName;
}

/** The scheme named in config. PPLNS is the default. For PPS/FPPS this is the block side (the pool keeps the reward); shares are credited by pps-crediting.ts. */
export function createScheme(name: SchemeName = 'pplns', options: PplnsOptions = {}): RewardScheme {
  switch (name) {
    case 'pplns':
      return createPplnsScheme(options);
    case 'prop':
      return propScheme;
    case 'solo':
      return soloScheme;
    case 'pps':
    case 'fpps':
      return ppsBlockScheme(name);
    default:
      throw new RangeError(`unknown payout scheme ${JSON.stringify(name)} (expected one of ${SCHEME_NAMES.join(', ')})`);
  }
}
