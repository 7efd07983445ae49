/**
 * fileSink (parquet) through the shared sink conformance suite (one file per format
 * so the formats run in parallel). Outage: the output directory disappears (as
 * an unmounted volume: a file stands where the directory was) and comes back.
 */
import { fileSinkHarness } from './fileSinkHarness.ts';
import { sinkConformance } from 'millrace/testing/conformance';

sinkConformance('fileSink (parquet)', fileSinkHarness('parquet'));
