export * from './Checkpoint.ts';
export * from './format.ts';
export * from './recovery.ts';
export * from './layout.ts';
