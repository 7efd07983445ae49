export { consoleSink, type ConsoleSinkOptions } from './consoleSink.ts';
export {
  formatTable,
  formatValue,
  formatDouble,
  formatTimestampMillis,
  type FormatTableOptions,
} from './formatTable.ts';
