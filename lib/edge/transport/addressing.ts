import dns from 'node:dns';
import net from 'node:net';
import type { SipMessage } from '../message/message';
import { formatHost, parseNameAddr, parseUri, parseVia } from '../message/uri';
import { isStream, type Endpoint, type TransportName } from './transport';

/** The listeners the addressing needs to know of. */
export interface Listeners { hasTransport(t: TransportName): boolean }

/**
 * Where messages go and how the edge names itself in them: Via, Contact and Record-Route hosts,
 * response targets (RFC 3261 §18.2.2, RFC 3581) and request targets from URIs.
 */
export class Addressing {
  constructor(private readonly listeners: Listeners, private readonly publicAddress: string | undefined) {}

  hostFor(local: Endpoint): string {
    const addr = this.publicAddress
      ?? (local.address === '0.0.0.0' || local.address === '::' ? '127.0.0.1' : local.address);
    return formatHost(addr);
  }

  contactFor(local: Endpoint): string {
    const t = local.transport === 'udp' ? '' : `;transport=${local.transport}`;
    return `<sip:${this.hostFor(local)}:${local.port}${t}>`;
  }

  viaFor(local: Endpoint, branch: string): string {
    return `SIP/2.0/${local.transport.toUpperCase()} ${this.hostFor(local)}:${local.port};branch=${branch};rport`;
  }

  /** `@localhost` as applications write it becomes the edge's own host and port. */
  replaceLocalhost(value: string, local: Endpoint): string {
    return value.replace(/@localhost(?::\d+)?(?=[;>\s]|$)/g, `@${this.hostFor(local)}:${local.port}`);
  }

  /**
   * A Contact naming `@localhost` becomes the edge's own address, with the transport it is reached
   * by when that is not UDP (a far end would otherwise send its requests over UDP).
   */
  replaceContactLocalhost(value: string, local: Endpoint): string {
    const replaced = this.replaceLocalhost(value, local);
    if (replaced === value || local.transport === 'udp' || /;\s*transport\s*=/i.test(value)) return replaced;
    return value.replace(/@localhost(?::\d+)?(?=[;>\s]|$)/g, `@${this.hostFor(local)}:${local.port};transport=${local.transport}`);
  }

  /** Where responses to a request go (RFC 3261 §18.2.2 with rport, RFC 3581). */
  responseTarget(msg: SipMessage, source: Endpoint): Endpoint {
    if (isStream(source.transport)) return source;
    const via = parseVia(msg.get('via') as string);
    if (via.params.has('rport')) return source;
    return { transport: 'udp', address: via.params.get('received') ?? source.address, port: via.port ?? 5060 };
  }

  /** `received` and `rport` on the top Via of a request as it arrived (RFC 3261 §18.2.1, RFC 3581). */
  stampVia(msg: SipMessage, source: Endpoint): void {
    const via = parseVia(msg.get('via') as string);
    let changed = false;
    if (via.host !== source.address) { via.params.set('received', source.address); changed = true; }
    if (via.params.has('rport') && via.params.get('rport') === null) { via.params.set('rport', String(source.port)); changed = true; }
    if (!changed) return;
    let params = '';
    for (const [k, v] of via.params) params += v === null ? `;${k}` : `;${k}=${v}`;
    const updated = `${via.protocol} ${formatHost(via.host)}${via.port !== null ? `:${via.port}` : ''}${params}`;
    const idx = msg.headers.findIndex((h) => h.name === 'via');
    msg.headers[idx] = { name: 'via', value: updated };
  }

  /**
   * The endpoint a request to `uriText` goes to. A transport the URI names (or sips:, which means
   * TLS) must be one the edge listens on: drachtio-server refuses rather than sending the request
   * some other way. With none named, UDP, or TCP when there is no UDP listener. TLS defaults to
   * port 5061 (RFC 3261 §19.1.2) and keeps the URI's host name for verifying the peer.
   */
  async resolveTarget(uriText: string, preferred?: TransportName): Promise<Endpoint> {
    const uri = parseUri(uriText.replace(/^<|>$/g, ''));
    if (uri.scheme === 'tel') throw new Error('cannot route a tel: URI without a proxy');
    const named = uri.scheme === 'sips' ? 'tls' : uri.params.get('transport')?.toLowerCase();
    let transport: TransportName;
    if (named !== undefined) {
      if ((named !== 'udp' && named !== 'tcp' && named !== 'tls') || !this.listeners.hasTransport(named)) {
        throw new Error(`requested protocol/transport not available: ${named}`);
      }
      transport = named;
    } else {
      const wanted = preferred ?? 'udp';
      transport = this.listeners.hasTransport(wanted) ? wanted : (wanted === 'udp' ? 'tcp' : 'udp');
    }
    let address = uri.host;
    let serverName: string | undefined;
    if (!net.isIP(address)) { serverName = address; address = (await dns.promises.lookup(address)).address; }
    const port = uri.port ?? (transport === 'tls' ? 5061 : 5060);
    return transport === 'tls' && serverName ? { transport, address, port, serverName } : { transport, address, port };
  }

  /** A target from a Contact or Route with an IP host, else `fallback` (no lookups on this path). */
  targetFromUriSync(uriText: string, fallback: Endpoint): Endpoint {
    try {
      const na = uriText.includes('<') ? parseNameAddr(uriText).uri : parseUri(uriText);
      if (!net.isIP(na.host)) return fallback;
      const tp = na.params.get('transport')?.toLowerCase();
      const transport: TransportName = na.scheme === 'sips' || tp === 'tls' ? 'tls'
        : tp === 'tcp' ? 'tcp' : tp === 'udp' ? 'udp' : fallback.transport;
      return { transport, address: na.host, port: na.port ?? (transport === 'tls' ? 5061 : 5060) };
    } catch { return fallback; }
  }
}
