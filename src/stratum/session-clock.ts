/**
 * Session times are ms since this module loaded: small integers V8 keeps unboxed in the object (an
 * epoch-ms double would be one more heap number per field per connection). Add CLOCK_ORIGIN for epoch ms.
 */
export const CLOCK_ORIGIN = Date.now();
export const clock = (): number => Date.now() - CLOCK_ORIGIN;
