export * from './model.ts';
export * from './generator.ts';
export * from './source.ts';
