export {
  SpendNotifier, signWebhook, verifyWebhook, idempotencyKey, httpPost, SIGNATURE_HEADER, IDEMPOTENCY_HEADER,
  type SpendEvent, type SpendEventKind, type WebhookOptions, type WebhookPost, type NotifierStats,
} from './webhook';
export { FileNotificationOutbox, type NotificationOutbox, type OutboxEntry, type StoredEntry } from './outbox';
