/** A string that doesn't point into a bigger one (a slice of a 200-byte line keeps the whole line alive). */
export function flatCopy(text: string): string {
  return text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as string);
}

/** User agents repeat across thousands of connections: keep one copy of each. Bounded. */
const userAgents = new Map<string, string>();
export function internUserAgent(agent: string): string {
  const known = userAgents.get(agent);
  if (known !== undefined) return known;
  if (userAgents.size >= 1000) userAgents.clear();
  const copy = flatCopy(agent);
  userAgents.set(copy, copy);
  return copy;
}
