/**
 * The Kinesis variant's connection (agent.ts --kinesis, pipeline.ts --kinesis): one endpoint URL
 * (kinesalite, LocalStack, or https://kinesis.<region>.amazonaws.com), the region from AWS_REGION /
 * AWS_DEFAULT_REGION (default us-east-1), and the credentials of the AWS SDK's default chain when
 * AWS_ACCESS_KEY_ID or AWS_PROFILE is set — otherwise placeholder keys, which kinesalite accepts
 * (it checks none) and real Kinesis refuses with a clear KINESIS_AUTH error.
 *
 * Both sides create the metrics stream if it is missing (whoever starts first), with the same
 * shard count, and wait until it is ACTIVE.
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  type KinesisClientConfig,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { MillraceError } from 'millrace';
import type { KinesisConnectionOptions } from '@millrace/kinesis';
import { optionError } from './options.ts';

/** Shards of the metrics stream when this example creates it (records keyed by host spread over them). */
export const METRICS_SHARDS = 2;

/** What both connectors and the agent's client need to reach `endpoint`. */
export function kinesisConnection(
  endpoint: string,
): Required<Pick<KinesisConnectionOptions, 'region'>> & KinesisConnectionOptions {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw optionError(
      '--kinesis',
      `"${endpoint}" is not an http:// or https:// URL; give the Kinesis endpoint, e.g. http://127.0.0.1:4567 (kinesalite)`,
    );
  }
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const ownCredentials = process.env.AWS_ACCESS_KEY_ID !== undefined || process.env.AWS_PROFILE !== undefined;
  return {
    endpoint,
    region,
    ...(ownCredentials ? {} : { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
  };
}

/** An AWS SDK client for `endpoint` (HTTP/1.1: local Kinesis servers lack HTTP/2). */
export function kinesisClient(endpoint: string): KinesisClient {
  const c = kinesisConnection(endpoint);
  const config: KinesisClientConfig = {
    region: c.region,
    endpoint: c.endpoint,
    requestHandler: new NodeHttpHandler({ requestTimeout: 10_000 }),
    ...(c.credentials ? { credentials: c.credentials } : {}),
  };
  return new KinesisClient(config);
}

export function kinesisUnavailable(endpoint: string, e: unknown): MillraceError {
  return new MillraceError(
    'KINESIS_UNAVAILABLE',
    `cannot reach Kinesis at ${new URL(endpoint).host}: ${(e as Error).name}: ${(e as Error).message}; ` +
      'is kinesalite running there (npx kinesalite --port 4567)? check --kinesis',
    { domain: 'external', retryable: true, cause: e },
  );
}

/** Creates `stream` unless it exists, then waits (up to 30 s) until it is ACTIVE. */
export async function ensureStream(client: KinesisClient, endpoint: string, stream: string): Promise<void> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: METRICS_SHARDS }));
  } catch (e) {
    if ((e as Error).name !== 'ResourceInUseException') throw kinesisUnavailable(endpoint, e);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    let status: string | undefined;
    try {
      const s = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      status = s.StreamDescriptionSummary?.StreamStatus;
    } catch (e) {
      throw kinesisUnavailable(endpoint, e);
    }
    if (status === 'ACTIVE' || status === 'UPDATING') return;
    if (Date.now() > deadline) {
      throw new MillraceError(
        'KINESIS_UNAVAILABLE',
        `the Kinesis stream "${stream}" at ${new URL(endpoint).host} is still ${status} after 30 s`,
        { domain: 'external', retryable: true },
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
