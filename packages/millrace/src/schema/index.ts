export * from './types.ts';
export * from './Schema.ts';
