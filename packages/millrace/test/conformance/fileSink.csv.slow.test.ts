/**
 * fileSink (csv) through the shared sink conformance suite. Outage: the output
 * directory disappears (as an unmounted volume: a file stands where the
 * directory was) and comes back.
 *
 * In the slow project only because reading back 100,000 CSV rows takes seconds:
 * csv.ts gives csv-parse a `cast` function, which makes it build a context
 * object per field (~5x slower than without). Move this file back to
 * `*.test.ts` once CSV parsing is fast.
 */
import { sinkConformance } from 'millrace/testing/conformance';
import { fileSinkHarness } from './fileSinkHarness.ts';

sinkConformance('fileSink (csv)', fileSinkHarness('csv'));
