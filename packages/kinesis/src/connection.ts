/**
 * The Kinesis client both connectors use: region, endpoint (kinesalite, LocalStack, a VPC endpoint)
 * and credentials from the options, or the AWS SDK's default chain (environment, shared config,
 * instance/container role) when none are given. Requests go over HTTP/1.1 (the SDK's default for
 * Kinesis is HTTP/2, which only SubscribeToShard needs and which local Kinesis servers lack).
 * The SDK's own retries are off: the connectors retry themselves, with backoff and a log line
 * that says what the query is waiting for.
 *
 * Secrets (the secret access key, the session token) never reach describe(), logs or errors:
 * every message passes through Secrets.scrub.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { optionError } from './options.ts';

export interface KinesisCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface KinesisConnectionOptions {
  /** AWS region, e.g. 'eu-west-1'. Default: AWS_REGION / AWS_DEFAULT_REGION, else the SDK's config. */
  readonly region?: string;
  /** Another endpoint than AWS's, e.g. 'http://127.0.0.1:4567' for kinesalite. */
  readonly endpoint?: string;
  /** Static credentials. Default: the AWS SDK's default provider chain. */
  readonly credentials?: KinesisCredentials;
  /** One request's timeout, in ms. Default 10,000. */
  readonly requestTimeoutMs?: number;
}

export interface Target {
  readonly region: string | undefined;
  readonly endpoint: string | undefined;
  readonly credentials: KinesisCredentials | undefined;
  readonly requestTimeoutMs: number;
}

export function resolveTarget(o: KinesisConnectionOptions, who: string): Target {
  const region = o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region !== undefined && (typeof region !== 'string' || !/^[a-z0-9-]+$/.test(region)))
    throw optionError(who, `"region" must be an AWS region like 'us-east-1', got ${JSON.stringify(region)}`);
  let endpoint: string | undefined;
  if (o.endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(String(o.endpoint));
    } catch {
      throw optionError(
        who,
        `"endpoint" must be a URL like 'http://127.0.0.1:4567', got ${JSON.stringify(o.endpoint)}`,
      );
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw optionError(
        who,
        `"endpoint" must be an http:// or https:// URL, got ${JSON.stringify(o.endpoint)}`,
      );
    endpoint = String(o.endpoint);
  }
  const c = o.credentials;
  if (c !== undefined) {
    if (
      c === null ||
      typeof c !== 'object' ||
      typeof c.accessKeyId !== 'string' ||
      c.accessKeyId === '' ||
      typeof c.secretAccessKey !== 'string' ||
      c.secretAccessKey === '' ||
      (c.sessionToken !== undefined && typeof c.sessionToken !== 'string')
    )
      throw optionError(
        who,
        '"credentials" must be { accessKeyId, secretAccessKey, sessionToken? } (strings); leave it out to use the AWS default credential chain',
      );
  }
  const t = o.requestTimeoutMs ?? 10_000;
  if (!Number.isSafeInteger(t) || t < 1)
    throw optionError(who, `"requestTimeoutMs" must be a whole number ≥ 1, got ${JSON.stringify(t)}`);
  // A custom endpoint (kinesalite, LocalStack) needs some region for signing; any will do.
  return {
    region: region ?? (endpoint ? 'us-east-1' : undefined),
    endpoint,
    credentials: c,
    requestTimeoutMs: t,
  };
}

export function makeClient(t: Target): KinesisClient {
  return new KinesisClient({
    ...(t.region ? { region: t.region } : {}),
    ...(t.endpoint ? { endpoint: t.endpoint } : {}),
    ...(t.credentials ? { credentials: { ...t.credentials } } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: Math.min(t.requestTimeoutMs, 5_000),
      requestTimeout: t.requestTimeoutMs,
    }),
  });
}

/** Where the connector talks to, for describe() and messages: the endpoint (without user info) or the region. */
export function displayTarget(t: Target): string {
  if (t.endpoint) {
    const u = new URL(t.endpoint);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  }
  return `kinesis.${t.region ?? '<default region>'}`;
}

export class Secrets {
  private readonly values: string[];

  constructor(t: Target) {
    this.values = [t.credentials?.secretAccessKey, t.credentials?.sessionToken].filter(
      (s): s is string => typeof s === 'string' && s.length >= 4,
    );
    if (t.endpoint) {
      const u = new URL(t.endpoint);
      if (u.password) this.values.push(decodeURIComponent(u.password), u.password);
    }
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.values) out = out.split(s).join('***');
    return out;
  }
}
