/** Column functions: core (col, lit, when, coalesce, udf), strings and arrays, dates and times, math. */
export * from './core.ts';
export * from './string.ts';
export * from './datetime.ts';
export * from './math.ts';
export * from './aggregates.ts';
