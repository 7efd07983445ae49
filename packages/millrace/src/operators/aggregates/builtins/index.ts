/** The built-in aggregate functions, by family. */
export * from './basic.ts';
export * from './stats.ts';
export * from './collect.ts';
export { approxCountDistinct, type HllBuf } from './hll.ts';
export { percentileApprox, approxPercentile, type KllBuf } from './kll.ts';
export { udafDef, checkPlainData, type UdafSpec } from './udaf.ts';
