// Issue 10: ltcpool runs on Node 20 (Debian's) and on the current LTS. `npm ci` on Node 20 warned EBADENGINE:
// commander 15 requires Node >= 22.12 and cookie 2 (through fastify's light-my-request 6.8) Node >= 22. This
// reads every package in package-lock.json, as npm does, and fails when one refuses a Node the project supports.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

type Version = [number, number, number];

function parseVersion(text: string): { version: Version; parts: number } {
  const match = /^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(text);
  if (!match) throw new Error(`engines.node: cannot read version "${text}"`);
  const numbers = match.slice(1).filter((part) => part !== undefined && part !== 'x' && part !== '*');
  return { version: [0, 1, 2].map((i) => Number(numbers[i] ?? 0)) as Version, parts: numbers.length };
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** npm's range forms that occur in engines fields: `>=`, `>`, `<=`, `<`, `=`, `^`, `~`, bare versions, `*`, `||`. */
function satisfies(nodeVersion: string, range: string): boolean {
  const node = parseVersion(nodeVersion).version;
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .every((comparator) => {
        if (comparator === '' || comparator === '*' || comparator === 'x') return true;
        const [, op = '', rest = ''] = /^(>=|<=|>|<|=|\^|~)?\s*(.*)$/.exec(comparator)!;
        const { version, parts } = parseVersion(rest);
        const order = compare(node, version);
        if (op === '>=') return order >= 0;
        if (op === '>') return order > 0;
        if (op === '<=') return order <= 0;
        if (op === '<') return order < 0;
        // ^, ~ and bare versions: from the version up to the next change of its leading (or given) part
        const upperIndex = op === '^' ? version.findIndex((n, i) => n !== 0 || i === 2) : op === '~' ? Math.min(1, parts - 1) : parts - 1;
        const upper: Version = [...version];
        upper[upperIndex]! += 1;
        for (let i = upperIndex + 1; i < 3; i++) upper[i] = 0;
        return order >= 0 && compare(node, upper) < 0;
      }),
  );
}

interface LockPackage {
  engines?: { node?: string };
  optional?: boolean;
  dev?: boolean;
}

const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, LockPackage>;
};
const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
};

/** Packages (name → their engines.node) that refuse `nodeVersion`; optional ones are platform binaries npm skips. */
function refusing(nodeVersion: string, include: (pkg: LockPackage) => boolean): Record<string, string> {
  const refused: Record<string, string> = {};
  for (const [where, pkg] of Object.entries(lock.packages)) {
    const range = pkg.engines?.node;
    if (where === '' || range === undefined || pkg.optional || !include(pkg)) continue;
    if (!satisfies(nodeVersion, range)) refused[where.replace(/^.*node_modules\//, '')] = range;
  }
  return refused;
}

describe('engines.node of every locked package', () => {
  it('reads the range forms npm uses', () => {
    expect(satisfies('20.20.2', '>=20')).toBe(true);
    expect(satisfies('20.20.2', '>=22.12.0')).toBe(false);
    expect(satisfies('20.20.2', '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies('20.18.0', '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies('21.0.0', '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies('24.22.3', '^20.0.0 || ^22.0.0 || >=24.0.0')).toBe(true);
    expect(satisfies('20.1.0', '~20.0')).toBe(false);
    expect(satisfies('20.20.2', '>= 18 < 23')).toBe(true);
    expect(satisfies('20.20.2', '*')).toBe(true);
    expect(() => satisfies('20.0.0', '>=latest')).toThrow(/cannot read version "latest"/);
  });

  it("the packages the pool runs with accept the oldest Node of package.json's engines", () => {
    const oldest = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(packageJson.engines.node)?.[1];
    expect(oldest, `package.json engines.node "${packageJson.engines.node}" is not ">=version"`).toBeDefined();
    expect(refusing(oldest!, (pkg) => !pkg.dev)).toEqual({});
  });

  it('every package (the tools too) accepts this Node, Debian 13\'s Node 20.19 and the LTS line 24', () => {
    for (const version of [process.versions.node, '20.19.0', '24.0.0']) expect(refusing(version, () => true), version).toEqual({});
  });
});
