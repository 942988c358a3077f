import net from 'node:net';

/** `sofia status` as FreeSWITCH prints it, with one profile at the given address. */
export function sofiaStatus(profile: string, address: string): string {
  return [
    '                     Name\t   Type\t                                      Data\tState',
    '=================================================================================================',
    `            ${profile}\tprofile\t           sip:mod_sofia@${address}\tRUNNING (0)`,
    '=================================================================================================',
    '1 profile 0 aliases', '',
  ].join('\n');
}

/**
 * A FreeSWITCH event socket (inbound side of mod_event_socket) on loopback, speaking the ESL text
 * protocol: auth/request, command/reply, api/response with Content-Length. It records every
 * command it is sent; `answer` decides what each api command returns.
 */
export class FakeEventSocket {
  readonly commands: string[] = [];
  connections = 0;
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  port = 0;
  /** A hung FreeSWITCH: the socket stays open, nothing is answered any more. */
  hang = false;

  constructor(public secret: string, public answer: (command: string) => string) {}

  async start(port = 0): Promise<number> {
    this.server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** The media server "crashes": every connection is cut and no new one is taken until start() again. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    socket.write('Content-Type: auth/request\n\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const command = buffer.slice(0, end).split('\n')[0]!.trim();
        buffer = buffer.slice(end + 2);
        if (command) this.handle(socket, command);
      }
    });
  }

  private handle(socket: net.Socket, command: string): void {
    this.commands.push(command);
    if (this.hang) return;
    const reply = (text: string) => socket.write(`Content-Type: command/reply\nReply-Text: ${text}\n\n`);
    if (command.startsWith('auth ')) {
      if (command.slice(5) === this.secret) reply('+OK accepted');
      else { reply('-ERR invalid'); socket.end(); }
    } else if (command.startsWith('api ')) {
      const body = this.answer(command.slice(4));
      socket.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
    } else if (command === 'exit') {
      reply('+OK bye');
      socket.end();
    } else {
      reply('+OK');
    }
  }
}

/**
 * FreeSWITCH's side of an outbound event socket (the dialplan's `socket ... async full`): connects
 * to Tollgate at the address an INVITE named in X-esl-outbound and, on `connect`, answers with the
 * channel's data (header values URL-encoded, as FreeSWITCH sends them). Every command after that is
 * recorded and answered +OK.
 */
export async function connectOutbound(hostport: string, channel: Record<string, string>): Promise<{ commands: string[]; close(): void }> {
  const [host, port] = [hostport.slice(0, hostport.lastIndexOf(':')), Number(hostport.slice(hostport.lastIndexOf(':') + 1))];
  const socket = net.connect(port, host);
  socket.on('error', () => undefined);
  const commands: string[] = [];
  let buffer = '';
  socket.on('data', (chunk) => {
    buffer += chunk.toString('utf8');
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const command = buffer.slice(0, end).split('\n')[0]!.trim();
      buffer = buffer.slice(end + 2);
      if (!command) continue;
      commands.push(command);
      if (command === 'connect') {
        const headers = { 'Event-Name': 'CHANNEL_DATA', ...channel };
        socket.write(`Content-Type: command/reply\nReply-Text: +OK\n${Object.entries(headers).map(([k, v]) => `${k}: ${encodeURIComponent(v)}`).join('\n')}\n\n`);
      } else {
        socket.write('Content-Type: command/reply\nReply-Text: +OK\n\n');
      }
    }
  });
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
  return { commands, close: () => socket.end() };
}

/** Polls until the condition holds; bounded. */
export async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
