/**
 * JSON Schemas of the REST API. Routes declare them (fastify validates requests
 * and serializes responses with them) and openapi.ts turns them into the OpenAPI
 * document, so the two cannot drift apart. `named()` schemas become
 * `#/components/schemas/<name>` in the document.
 */

const NAMES = new WeakMap<object, string>();

/** A schema that the OpenAPI document lists under components.schemas. */
export function named<T extends object>(name: string, schema: T): T {
  NAMES.set(schema, name);
  return schema;
}

export function schemaName(schema: object): string | undefined {
  return NAMES.get(schema);
}

const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const numOrNull = { type: ['number', 'null'] } as const;
const intOrNull = { type: ['integer', 'null'] } as const;
const isoTime = { type: 'string', format: 'date-time' } as const;
const isoTimeOrNull = { type: ['string', 'null'], format: 'date-time' } as const;
/** Any JSON value (offsets, row values). */
const anyValue = {} as const;
const freeObject = { type: 'object', additionalProperties: true } as const;

function obj(properties: Record<string, object>, required: string[] = Object.keys(properties)) {
  return { type: 'object', properties, required, additionalProperties: false } as const;
}

export const ErrorResponse = named(
  'Error',
  obj({
    error: obj(
      {
        code: { type: 'string', description: 'Stable error code, e.g. QUERY_NOT_FOUND' },
        message: { type: 'string', description: 'What is wrong and what to do' },
      },
      ['code', 'message'],
    ),
  }),
);

export const QueryFailure = named(
  'QueryFailure',
  obj({
    code: str,
    message: str,
    domain: { type: 'string', enum: ['user', 'external', 'internal'] },
    retryable: bool,
    context: freeObject,
  }),
);

const health = {
  type: 'string',
  enum: ['active', 'failed', 'stopped'],
  description: 'active: running; failed: its last run ended with a failure; stopped: ended without failure',
} as const;

export const QuerySummary = named(
  'QuerySummary',
  obj({
    id: { type: 'string', description: 'Persistent id (kept in the checkpoint, same across restarts)' },
    runId: { type: 'string', description: 'Id of the current (or last) run' },
    name: str,
    health,
    endReason: {
      type: ['string', 'null'],
      enum: ['finished', 'stopped', 'failed', null],
      description:
        'null while active; finished: ended by itself (once/availableNow, or stopped by its own code); stopped: stopped through the service',
    },
    status: obj({
      message: {
        type: 'string',
        description: 'e.g. "Waiting for data to arrive", "Waiting for RabbitMQ at amqp://mq:5672: …"',
      },
      isDataAvailable: bool,
      isTriggerActive: bool,
      waitingFor: {
        type: 'array',
        description: 'Services the connectors are waiting for (retrying or reconnecting); empty when none',
        items: obj({
          connector: { type: 'string', description: 'source "name" or sink "name"' },
          what: { type: 'string', description: 'e.g. RabbitMQ at amqp://mq:5672: connection refused' },
          since: isoTime,
        }),
      },
    }),
    trigger: { ...strOrNull, description: 'Known for queries started through the service' },
    restartable: bool,
    runs: int,
    startedAt: isoTime,
    terminatedAt: isoTimeOrNull,
    lastBatchId: intOrNull,
    lastProgressAt: isoTimeOrNull,
    numInputRows: { type: 'number', description: 'Input rows of the last batch' },
    inputRowsPerSecond: num,
    processedRowsPerSecond: num,
    batchDurationMs: numOrNull,
    watermark: isoTimeOrNull,
    stateRowsTotal: num,
    stateMemoryBytes: num,
    sourceLag: {
      ...numOrNull,
      description: 'Σ latest − end offset of the sources that report one (offset units)',
    },
    totalInputRows: { type: 'number', description: 'Input rows since the service saw the query start' },
    totalOutputRows: num,
    failure: { anyOf: [QueryFailure, { type: 'null' }] },
  }),
);

export const HistoryEntry = named(
  'HistoryEntry',
  obj({
    batchId: int,
    timestamp: isoTime,
    batchDuration: num,
    numInputRows: num,
    inputRowsPerSecond: num,
    processedRowsPerSecond: num,
    numOutputRows: num,
    durationMs: obj({
      latestOffset: num,
      walCommit: num,
      getBatch: num,
      addBatch: num,
      commitOffsets: num,
      triggerExecution: num,
    }),
    watermark: isoTimeOrNull,
    eventTimeMin: isoTimeOrNull,
    eventTimeMax: isoTimeOrNull,
    stateRowsTotal: num,
    stateRowsUpdated: num,
    stateRowsRemoved: num,
    stateRowsDroppedByWatermark: num,
    stateMemoryBytes: num,
    sourceLag: numOrNull,
    isNoDataBatch: bool,
  }),
);

const metricsMap = { type: 'object', additionalProperties: { type: ['number', 'string'] } } as const;

/**
 * A stateful operator's state partitions (only when it has more than one). Open to new fields,
 * like the progress record: a declared-closed object would make the serializer drop them.
 */
export const StatePartitions = named('StatePartitions', {
  type: 'object',
  description:
    "Present only when the operator's state is split into more than one partition (writeStream " +
    "`partitions`): each partition's share of the batch, and the slowest beside the median (skew)",
  properties: {
    numPartitions: {
      type: 'integer',
      description: 'State partitions of the operator (fixed per checkpoint)',
    },
    slowestPartition: {
      type: 'integer',
      description: 'The partition whose operator took longest in this batch',
    },
    slowestMs: { type: 'number', description: 'Processing time of the slowest partition (ms)' },
    medianMs: { type: 'number', description: 'Median processing time over the partitions (ms)' },
    tasks: {
      type: 'array',
      description: 'One per partition, by partition number',
      items: {
        type: 'object',
        properties: {
          partition: int,
          numInputRows: { type: 'number', description: "Rows the partition's operator got in this batch" },
          numRowsTotal: { type: 'number', description: 'Rows (keys) the partition holds in state' },
          processingMs: { type: 'number', description: "Time the partition's operator spent on this batch" },
          commitTimeMs: { type: 'number', description: "Time to commit the partition's state store" },
        },
        required: ['partition', 'numInputRows', 'numRowsTotal', 'processingMs', 'commitTimeMs'],
        additionalProperties: true,
      },
    },
  },
  required: ['numPartitions', 'slowestPartition', 'slowestMs', 'medianMs', 'tasks'],
  additionalProperties: true,
} as const);

export const StateOperatorProgress = named('StateOperatorProgress', {
  type: 'object',
  description: "A stateful operator's figures for the batch, summed over its state partitions",
  properties: {
    operatorName: str,
    numRowsTotal: num,
    numRowsUpdated: num,
    numRowsRemoved: num,
    numRowsDroppedByWatermark: num,
    memoryUsedBytes: num,
    commitTimeMs: num,
    customMetrics: { type: 'object', additionalProperties: { type: 'number' } },
    partitions: StatePartitions,
  },
  required: ['operatorName', 'numRowsTotal', 'numRowsUpdated', 'numRowsRemoved', 'memoryUsedBytes'],
  additionalProperties: true,
} as const);

/** Spark-shaped StreamingQueryProgress (see the engine's progress.ts); open to new fields. */
export const Progress = named('Progress', {
  type: 'object',
  properties: {
    id: str,
    runId: str,
    name: str,
    timestamp: isoTime,
    batchId: int,
    batchDuration: num,
    numInputRows: num,
    inputRowsPerSecond: num,
    processedRowsPerSecond: num,
    durationMs: { type: 'object', additionalProperties: { type: 'number' } },
    eventTime: {
      type: 'object',
      properties: { min: str, max: str, avg: str, watermark: str },
      required: ['watermark'],
      additionalProperties: true,
    },
    stateOperators: { type: 'array', items: StateOperatorProgress },
    sources: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          description: str,
          name: str,
          startOffset: anyValue,
          endOffset: anyValue,
          latestOffset: anyValue,
          numInputRows: num,
          inputRowsPerSecond: num,
          processedRowsPerSecond: num,
          numMalformedRows: num,
          metrics: metricsMap,
        },
        required: ['description', 'name', 'numInputRows'],
        additionalProperties: true,
      },
    },
    sink: {
      type: 'object',
      properties: { description: str, numOutputRows: num, metrics: metricsMap },
      required: ['description', 'numOutputRows'],
      additionalProperties: true,
    },
    isNoDataBatch: bool,
  },
  required: [
    'id',
    'runId',
    'name',
    'timestamp',
    'batchId',
    'batchDuration',
    'numInputRows',
    'sources',
    'sink',
  ],
  additionalProperties: true,
} as const);

export const QueryDetail = named('QueryDetail', {
  type: 'object',
  properties: {
    ...QuerySummary.properties,
    explain: { type: 'string', description: 'The plans, as explain() prints them' },
    checkpointLocation: strOrNull,
    lastProgress: { anyOf: [Progress, { type: 'null' }] },
    sources: {
      type: 'array',
      items: obj({
        name: str,
        description: str,
        startOffset: anyValue,
        endOffset: anyValue,
        latestOffset: anyValue,
        lag: numOrNull,
        numInputRows: num,
        inputRowsPerSecond: num,
        processedRowsPerSecond: num,
        numMalformedRows: num,
        metrics: freeObject,
      }),
    },
    sink: {
      anyOf: [
        obj({
          name: strOrNull,
          description: str,
          kind: { type: 'string', enum: ['memory', 'dashboard', 'other'] },
          rowsAvailable: bool,
          numOutputRows: num,
          metrics: freeObject,
        }),
        { type: 'null' },
      ],
    },
    stateOperators: { type: 'array', items: StateOperatorProgress },
    history: obj({ size: int, capacity: int, fullRecordsKept: int }),
  },
  required: [
    ...QuerySummary.required,
    'explain',
    'checkpointLocation',
    'lastProgress',
    'sources',
    'sink',
    'stateOperators',
    'history',
  ],
  additionalProperties: false,
} as const);

export const QueryList = named('QueryList', obj({ queries: { type: 'array', items: QuerySummary } }));

export const HistoryPage = named(
  'HistoryPage',
  obj({
    query: str,
    capacity: int,
    oldestBatchId: intOrNull,
    newestBatchId: intOrNull,
    hasMore: { type: 'boolean', description: 'More entries follow; ask again with since = the last batchId' },
    entries: { type: 'array', items: HistoryEntry },
  }),
);

export const StopResult = named(
  'StopResult',
  obj({
    stopped: {
      type: 'boolean',
      description: 'false: still finishing its batch when the wait ended (it will stop)',
    },
    query: QuerySummary,
  }),
);

export const RowsResponse = named(
  'Rows',
  obj({
    query: strOrNull,
    sink: str,
    kind: { type: 'string', enum: ['memory', 'dashboard'] },
    total: int,
    rows: { type: 'array', items: anyValue },
  }),
);

export const DashboardInfo = named(
  'DashboardInfo',
  obj({
    name: str,
    title: str,
    kind: { type: 'string', enum: ['table', 'timeseries'] },
    keyColumns: { type: 'array', items: str },
    x: strOrNull,
    y: { type: 'array', items: str },
    series: strOrNull,
    maxRows: int,
    size: int,
    query: strOrNull,
    lastBatchId: intOrNull,
    updatedAt: isoTimeOrNull,
    skippedRows: { type: 'integer', description: 'Time-series rows skipped because x was not a time' },
    columns: {
      type: 'array',
      description:
        "The result's columns and types (timestamp, long, double, string, array<…>, struct<…>); struct fields as dotted paths",
      items: obj({ name: str, type: str }),
    },
  }),
);

export const DashboardPoint = named(
  'DashboardPoint',
  obj({
    x: { type: 'number', description: 'Epoch milliseconds' },
    series: strOrNull,
    values: { type: 'object', additionalProperties: numOrNull },
  }),
);

export const DashboardList = named(
  'DashboardList',
  obj({ dashboards: { type: 'array', items: DashboardInfo } }),
);

export const DashboardView = named(
  'DashboardView',
  obj({
    dashboard: DashboardInfo,
    rows: {
      type: 'array',
      description:
        'table: row objects (least recently updated first); timeseries: DashboardPoint (by x, then series)',
      items: anyValue,
    },
  }),
);

const severity = { type: 'string', enum: ['info', 'warning', 'critical'] } as const;
const labels = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const AlertRule = named(
  'AlertRule',
  obj({
    name: str,
    query: strOrNull,
    sink: strOrNull,
    condition: str,
    forMs: num,
    clock: { type: 'string', enum: ['event-time', 'batch-time'], description: 'What `for` is measured in' },
    eventTime: strOrNull,
    cooldownMs: num,
    severity,
    labels: { type: 'array', items: str },
    summary: strOrNull,
    notify: {
      type: 'array',
      items: obj({
        kind: { type: 'string', enum: ['webhook'] },
        format: { type: 'string', enum: ['slack', 'json'] },
        url: { type: 'string', description: 'Scheme, host and port only' },
      }),
    },
    enabled: bool,
    firing: int,
    pending: int,
    lastEvaluatedAt: isoTimeOrNull,
    evaluationErrors: int,
    lastError: strOrNull,
  }),
);

export const AlertEvent = named(
  'AlertEvent',
  obj({
    id: int,
    rule: str,
    status: { type: 'string', enum: ['firing', 'resolved'] },
    severity,
    labels,
    summary: str,
    query: strOrNull,
    sink: strOrNull,
    batchId: int,
    value: anyValue,
    startsAt: isoTime,
    firedAt: isoTime,
    resolvedAt: isoTimeOrNull,
    time: isoTime,
  }),
);

export const AlertInstance = named(
  'AlertInstance',
  obj({
    rule: str,
    state: { type: 'string', enum: ['pending', 'firing'] },
    severity,
    labels,
    since: isoTime,
    firedAt: isoTimeOrNull,
    value: anyValue,
  }),
);

export const AlertRuleList = named('AlertRuleList', obj({ rules: { type: 'array', items: AlertRule } }));
export const AlertActiveList = named(
  'AlertActiveList',
  obj({ alerts: { type: 'array', items: AlertInstance } }),
);
export const AlertHistory = named(
  'AlertHistory',
  obj({ events: { type: 'array', items: AlertEvent }, hasMore: bool }),
);

export const ServerInfo = named(
  'ServerInfo',
  obj({
    name: { type: 'string', enum: ['millrace'] },
    version: str,
    apiVersion: { type: 'string', enum: ['v1'] },
    startedAt: isoTime,
    uptimeSeconds: num,
    authRequiredForChanges: bool,
    authRequiredForReads: bool,
    historySize: int,
    links: { type: 'object', additionalProperties: { type: 'string' } },
  }),
);

// -- server-sent events (GET /api/v1/events): the `data` of each event type ----------------------

const queryEvent = named('QueryEvent', obj({ query: QuerySummary }));
const alertEvent = named('AlertNotificationEvent', obj({ alert: AlertEvent }));

export const SSE_EVENTS: Record<string, object> = {
  ready: named('ReadyEvent', obj({ lastEventId: int, serverTime: isoTime })),
  heartbeat: named('HeartbeatEvent', obj({ time: isoTime })),
  'query.started': queryEvent,
  'query.progress': named('QueryProgressEvent', obj({ query: QuerySummary, entry: HistoryEntry })),
  'query.terminated': queryEvent,
  'alert.fired': alertEvent,
  'alert.resolved': alertEvent,
  'dashboard.registered': named('DashboardRegisteredEvent', obj({ dashboard: DashboardInfo })),
  'dashboard.rows': named(
    'DashboardRowsEvent',
    obj({
      dashboard: str,
      query: str,
      batchId: int,
      replaced: { type: 'boolean', description: 'complete mode: these rows replace the whole view' },
      size: { type: 'integer', description: 'rows (or points) the dashboard holds now' },
      truncated: { type: 'boolean', description: 'more rows changed than sent (1,000): fetch the view' },
      rows: {
        type: 'array',
        description: 'table rows, or DashboardPoint for a time series',
        items: anyValue,
      },
    }),
  ),
  dropped: named('DroppedEvent', obj({ reason: str, buffered: int })),
  shutdown: named('ShutdownEvent', obj({ reason: str })),
};

// -- request parts --------------------------------------------------------------------------------

export const queryParam = obj({ query: { type: 'string', minLength: 1, description: 'Query id or name' } });
export const nameParam = obj({ name: { type: 'string', minLength: 1 } });

export const limitQuery = (dflt: number, max: number) =>
  ({ type: 'integer', minimum: 1, maximum: max, default: dflt }) as const;
