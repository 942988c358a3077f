import { Counter, Gauge, type Registry } from 'prom-client';
import type { PromptName } from '../../lib/media';

/** Why a call that the rules select got no media, or an announcement did not play. */
export type MediaFailure = 'media_server_down' | 'endpoint_failed' | 'play_failed' | 'bridge_failed' | 'timeout';

/** The media layer's metrics, in the application's registry (TollgateMetrics.registry). */
export class MediaMetrics {
  private readonly played: Counter;
  private readonly failures: Counter;
  private readonly fallbacks: Counter;
  private readonly up: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.played = new Counter({ name: 'tollgate_media_announcements_total', help: 'Announcements played to the end, by prompt (no_credit, remaining_time, warning)', labelNames: ['prompt'], registers });
    this.failures = new Counter({ name: 'tollgate_media_failures_total', help: 'Announcements or media operations that failed, by prompt (or anchor) and why', labelNames: ['prompt', 'reason'], registers });
    this.fallbacks = new Counter({ name: 'tollgate_media_fallbacks_total', help: 'Calls selected for media that went without it, by why', labelNames: ['reason'], registers });
    this.up = new Gauge({ name: 'tollgate_media_server_up', help: '1 while the media server (FreeSWITCH event socket) is connected', registers });
    this.up.set(0);
  }

  announced(prompt: PromptName): void { this.played.inc({ prompt }); }
  failed(prompt: PromptName | 'anchor', reason: MediaFailure): void { this.failures.inc({ prompt, reason }); }
  fellBack(reason: MediaFailure): void { this.fallbacks.inc({ reason }); }
  serverUp(up: boolean): void { this.up.set(up ? 1 : 0); }
}
