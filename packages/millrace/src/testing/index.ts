/** The public test harness: `import { testStream, ManualClock } from 'millrace/testing'`. */
export {
  testStream,
  TestStream,
  type TestStreamOptions,
  type RowCheckOptions,
  type FailureExpectation,
} from './testStream.ts';
export { ManualClock } from '../util/clock.ts';
export { prng } from './prng.ts';
export { tcpRelay, type TcpRelay } from './tcpRelay.ts';
