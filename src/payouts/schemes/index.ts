import type { RewardScheme, SchemeName } from '../types.js';
import { createPplnsScheme, type PplnsOptions } from './pplns.js';
import { propScheme } from './prop.js';
import { soloScheme } from './solo.js';

export { createPplnsScheme, pplnsWindow, splitPplns, type PplnsInput, type PplnsOptions, type PplnsWindow } from './pplns.js';
export { propScheme, splitProp, type PropInput } from './prop.js';
export { soloScheme, splitSolo, type SoloInput } from './solo.js';
export * from './units.js';

export const SCHEME_NAMES: readonly SchemeName[] = ['pplns', 'prop', 'solo'];

/** The scheme named in config. PPLNS is the default. */
export function createScheme(name: SchemeName = 'pplns', options: PplnsOptions = {}): RewardScheme {
  switch (name) {
    case 'pplns':
      return createPplnsScheme(options);
    case 'prop':
      return propScheme;
    case 'solo':
      return soloScheme;
    default:
      throw new RangeError(`unknown payout scheme ${JSON.stringify(name)} (expected one of ${SCHEME_NAMES.join(', ')})`);
  }
}
