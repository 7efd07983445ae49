/**
 * @millrace/server — the Millrace service: `millrace` CLI, REST API, SSE,
 * Prometheus metrics, dashboards and alert rules. Import from here to embed
 * the service in your own program, or to write pipeline files.
 */
export { MillraceService, type MillraceServiceOptions } from './service.ts';
export {
  definePipeline,
  createPipelineContext,
  type PipelineContext,
  type PipelineFunction,
  type PipelineDashboards,
  type PipelineAlerts,
} from './pipeline/context.ts';
export {
  dashboardSink,
  DashboardSink,
  type DashboardSinkOptions,
  type DashboardKind,
  type DashboardInfo,
  type DashboardPoint,
} from './dashboards/DashboardSink.ts';
export {
  AlertManager,
  slackBody,
  type AlertRuleOptions,
  type AlertRuleView,
  type AlertEvent,
  type AlertInstanceView,
  type Severity,
} from './alerts/AlertManager.ts';
export { webhook, type Webhook, type WebhookOptions, type WebhookFormat } from './alerts/webhook.ts';
export { compileCondition, type CompiledCondition } from './alerts/expression.ts';
export {
  startHttpServer,
  isLoopback,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type HttpServer,
  type HttpServerOptions,
} from './http/server.ts';
export { createHttpApp, type HttpAppOptions } from './http/app.ts';
export { buildOpenApi } from './http/openapi.ts';
export { redact, redactText, Redactor, REDACTED, isSecretName } from './redact.ts';
export { createLogger, type ServiceLogger, type LogLevel, type LogDestination } from './logging/logger.ts';
export { SERVICE_EVENT_TYPES, type ServiceEventType } from './events/EventHub.ts';
export type { QuerySummary, QueryDetail } from './queries/views.ts';
export type { HistoryEntry } from './queries/ProgressHistory.ts';
export type { QueryHealth, EndReason } from './queries/QueryRegistry.ts';
export { webUi, type WebUiOptions } from './ui/webUi.ts';
