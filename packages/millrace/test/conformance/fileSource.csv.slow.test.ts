/**
 * fileSource (csv) through the shared source conformance suite, with each of
 * its parse modes for bad records.
 *
 * In the slow project only because parsing 100,000 CSV rows takes seconds:
 * csv.ts gives csv-parse a `cast` function, which makes it build a context
 * object per field (~5x slower than without). Move this file back to
 * `*.test.ts` once CSV parsing is fast.
 */
import { sourceConformance } from 'millrace/testing/conformance';
import { fileSourceHarness } from './fileSourceHarness.ts';

sourceConformance('fileSource (csv)', fileSourceHarness('csv'));
