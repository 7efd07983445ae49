/** fileSource (jsonl) through the shared source conformance suite, with each of its parse modes for bad records. */
import { sourceConformance } from 'millrace/testing/conformance';
import { fileSourceHarness } from './fileSourceHarness.ts';

sourceConformance('fileSource (jsonl)', fileSourceHarness('jsonl'));
