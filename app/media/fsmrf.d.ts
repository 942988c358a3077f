/**
 * The parts of drachtio-fsmrf 4.1 and drachtio-modesl 1.3 that Tollgate uses (neither ships
 * types). The adapter (media-server.ts) builds the event-socket connection itself so that it owns
 * its reconnection; MediaServer is then made over it as Mrf#connect would.
 */
declare module 'drachtio-modesl' {
  import type { EventEmitter } from 'node:events';

  export interface EslEvent {
    getHeader(name: string): string | undefined;
    getBody(): string;
  }

  export class Connection extends EventEmitter {
    /** Inbound: connects to FreeSWITCH's event socket; `ready` runs once authenticated. */
    constructor(host: string, port: number, password: string, ready?: () => void);
    /** Read at each loss; maxAttempts 1 turns the library's own retries off. */
    reconnectOpts: { maxAttempts?: number; retryMaxDelay?: number | null };
    authed: boolean;
    connected(): boolean;
    disconnect(): void;
    api(command: string, cb: (res: EslEvent) => void): void;
  }

  const esl: { Connection: typeof Connection };
  export default esl;
}

declare module 'drachtio-fsmrf' {
  import type Srf from 'drachtio-srf';

  class Mrf {
    constructor(srf: Srf, opts?: { customEvents?: string[] });
    readonly srf: Srf;
  }
  export = Mrf;
}

declare module 'drachtio-fsmrf/lib/mediaserver' {
  import type { EventEmitter } from 'node:events';
  import type Srf from 'drachtio-srf';
  import type { Connection, EslEvent } from 'drachtio-modesl';
  import type Mrf from 'drachtio-fsmrf';

  export interface Endpoint extends EventEmitter {
    readonly uuid: string;
    readonly local: { sdp: string; mediaIp?: string; mediaPort?: string };
    readonly remote: { sdp?: string };
    readonly dialog: Srf.Dialog;
    execute(app: string, arg: string): Promise<EslEvent>;
    bridge(other: Endpoint | string): Promise<void>;
    modify(sdp: string): Promise<unknown>;
    destroy(): Promise<void>;
  }

  class MediaServer extends EventEmitter {
    constructor(conn: Connection, mrf: Mrf, listenAddress: string, listenPort: number,
      advertisedAddress: string | undefined, advertisedPort: number | undefined, profile: string);
    readonly sip: { ipv4: { udp: { address?: string } } };
    readonly listenPort: number;
    connected(): boolean;
    api(command: string): Promise<string>;
    createEndpoint(opts?: { remoteSdp?: string; headers?: Record<string, string> }): Promise<Endpoint>;
    disconnect(): void;
  }
  export = MediaServer;
}
