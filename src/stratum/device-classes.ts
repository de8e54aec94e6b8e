/**
 * Device classes: user-agent patterns mapped to the difficulty range a client handles and where it starts, so
 * an L9 starts near its working difficulty instead of spending minutes on vardiff's ramp, and a cgminer-lineage
 * client is never given a difficulty below 16 (it reads those in Bitcoin units and mines 65,536× too hard).
 */
export interface DeviceClassConfig {
  name: string;
  /** Regular expression, case-insensitive, tested against the user agent of `mining.subscribe`. */
  match: string;
  startDifficulty?: number;
  minDifficulty?: number;
  maxDifficulty?: number;
}

export interface DeviceClass extends Omit<DeviceClassConfig, 'match'> {
  pattern: RegExp;
}

/**
 * Used when `stratum.deviceClasses` is not set. Start difficulties aim at one share per ~10 s at a typical
 * hashrate of the class (difficulty ≈ hashes per second × 10 / 65,536); floors of 16 for cgminer-derived code.
 */
export const DEFAULT_DEVICE_CLASSES: readonly DeviceClassConfig[] = [
  { name: 'bfgminer', match: '^bfgminer', minDifficulty: 16 },
  { name: 'cgminer', match: '^cgminer', minDifficulty: 16 },
  // Antminer L3+/L7/L9 firmware (bmminer, cgminer-derived): 0.5 to 16 GH/s; vardiff takes it from here in seconds
  { name: 'antminer', match: '^(bmminer|antminer)', startDifficulty: 262144, minDifficulty: 16 },
  { name: 'goldshell', match: 'goldshell', startDifficulty: 131072, minDifficulty: 16 },
  { name: 'elphapex', match: 'elphapex', startDifficulty: 1048576, minDifficulty: 16 },
  // rental services and farm proxies carry the hashrate of many machines on one connection
  { name: 'rental', match: 'nicehash|miningrigrentals', startDifficulty: 1048576, minDifficulty: 16 },
  { name: 'proxy', match: 'stratum-?proxy|farm-?proxy|braiins', startDifficulty: 1048576, minDifficulty: 16 },
  // CPU miners read Scrypt difficulties correctly at any size; a few kH/s to a few hundred
  { name: 'cpu', match: 'cpuminer|minerd', startDifficulty: 0.01, maxDifficulty: 1024 },
];

/** True when `source` compiles as a regular expression. */
export function isValidPattern(source: string): boolean {
  try {
    new RegExp(source, 'i');
    return true;
  } catch {
    return false;
  }
}

export function compileDeviceClasses(classes: readonly DeviceClassConfig[]): DeviceClass[] {
  return classes.map(({ match, ...rest }) => ({ ...rest, pattern: new RegExp(match, 'i') }));
}

/** Index of the first class whose pattern matches the user agent, or -1. */
export function classifyUserAgent(userAgent: string, classes: readonly DeviceClass[] | undefined): number {
  if (!classes || userAgent === '') return -1;
  return classes.findIndex((c) => c.pattern.test(userAgent));
}
