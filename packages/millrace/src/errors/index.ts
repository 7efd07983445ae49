export * from './MillraceError.ts';
