/** The SQL front end: text → the typed API's logical plan (see docs/guide/sql.md). */
export { sqlToStream } from './bind.ts';
export { TempViews, type TempView, UserFunctions, type UserFunction, sqlFunctionNames } from './catalog.ts';
export { parseStatements } from './parser.ts';
export type { SqlErrorCode } from './errors.ts';
