/**
 * The shipped caller scenarios ACK a non-2xx final inside the INVITE transaction (RFC 3261 17.1.1.3:
 * same branch as the INVITE), so a server stops retransmitting the final at once instead of at Timer H.
 * Each scenario that ACKs a refusal is run with SIPp against a loopback UDP far end that refuses it.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import dgram from 'dgram';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { freePort } from '../support/ports';

const ROOT = path.resolve(__dirname, '../../..');
const SCENARIOS = path.join(ROOT, 'scenarios');

interface Step { tag: string; response?: number; optional: boolean; method?: string }

function steps(xml: string): Step[] {
  const out: Step[] = [];
  const element = /<(send|recv|pause|nop)\b([^>]*?)(\/>|>([\s\S]*?)<\/\1>)/g;
  for (let m = element.exec(xml); m; m = element.exec(xml)) {
    const attrs = m[2];
    const response = /response="(\d{3})"/.exec(attrs);
    const body = m[4] ?? '';
    out.push({
      tag: m[1],
      response: response ? Number(response[1]) : undefined,
      optional: /optional="true"/.test(attrs),
      method: m[1] === 'send' ? /<!\[CDATA\[\s*([A-Z]+) /.exec(body)?.[1] : undefined,
    });
  }
  return out;
}

/** Caller scenarios whose ACK answers a non-2xx final: the one mandatory final they wait for. */
function refusedCallers(): { file: string; final: number; ringFirst: boolean; cancels: boolean }[] {
  const found = [];
  for (const name of fs.readdirSync(SCENARIOS).filter((f) => f.endsWith('.xml')).sort()) {
    const s = steps(fs.readFileSync(path.join(SCENARIOS, name), 'utf8'));
    if (s.find((x) => x.tag === 'send')?.method !== 'INVITE') continue;
    const ack = s.findIndex((x) => x.method === 'ACK');
    if (ack < 0) continue;
    const final = s.slice(0, ack).filter((x) => x.tag === 'recv' && !x.optional && (x.response ?? 0) >= 300).pop();
    if (!final) continue;
    const ringFirst = s.some((x) => x.tag === 'recv' && x.response === 180 && !x.optional);
    const cancels = s.slice(0, ack).some((x) => x.method === 'CANCEL');
    found.push({ file: name, final: final.response!, ringFirst, cancels });
  }
  return found;
}

function header(msg: string, name: string): string {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'mi').exec(msg);
  return m ? m[1].trim() : '';
}

function branchOf(msg: string): string {
  return /;branch=([^;\s]+)/.exec(header(msg, 'Via'))?.[1] ?? '';
}

function reply(invite: string, code: number, reason: string, cseq = header(invite, 'CSeq')): string {
  const to = header(invite, 'To');
  return [
    `SIP/2.0 ${code} ${reason}`,
    `Via: ${header(invite, 'Via')}`,
    `From: ${header(invite, 'From')}`,
    `To: ${code > 100 && !/;tag=/.test(to) ? `${to};tag=refuser1` : to}`,
    `Call-ID: ${header(invite, 'Call-ID')}`,
    `CSeq: ${cseq}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('caller scenarios ACK a refusal on the INVITE branch', function () {
  this.timeout(120_000);
  const callers = refusedCallers();

  it('finds the caller scenarios that ACK a refusal', () => {
    assert.ok(callers.length >= 8, `found ${callers.map((c) => c.file).join(', ')}`);
  });

  for (const caller of callers) {
    it(`${caller.file}: ACK for ${caller.final} carries the INVITE's branch, sent once`, async () => {
      const far = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => far.bind(0, '127.0.0.1', resolve));
      const farPort = (far.address() as { port: number }).port;
      let invite = '';
      const acks: string[] = [];
      far.on('message', (buf, rinfo) => {
        const msg = buf.toString('utf8');
        const send = (text: string) => far.send(text, rinfo.port, rinfo.address);
        if (msg.startsWith('INVITE ')) {
          if (invite) return; // a retransmission: the answers below are already on their way
          invite = msg;
          send(reply(msg, 100, 'Trying'));
          if (caller.ringFirst) send(reply(msg, 180, 'Ringing'));
          if (!caller.cancels) send(reply(msg, caller.final, 'Refused'));
        } else if (msg.startsWith('CANCEL ')) {
          send(reply(msg, 200, 'OK'));
          send(reply(invite, caller.final, 'Request Terminated'));
        } else if (msg.startsWith('ACK ')) {
          acks.push(msg);
        }
      });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-ack-'));
      try {
        const csv = path.join(dir, 'call.csv');
        fs.writeFileSync(csv, 'SEQUENTIAL\n4930100201;202;\n');
        const localPort = await freePort('udp');
        const sipp = spawn('sipp', ['-sf', path.join(SCENARIOS, caller.file), '-inf', csv, '-i', '127.0.0.1', '-p', String(localPort),
          '-m', '1', '-nostdin', '-timeout', '20s', '-timeout_error', '-trace_err', '-error_file', path.join(dir, 'err.log'),
          `127.0.0.1:${farPort}`], { cwd: dir, stdio: 'ignore' });
        const code = await new Promise<number | null>((resolve) => sipp.on('exit', (c) => resolve(c)));
        const errors = fs.existsSync(path.join(dir, 'err.log')) ? fs.readFileSync(path.join(dir, 'err.log'), 'utf8') : '';
        assert.equal(code, 0, `SIPp exit ${code}\n${errors.slice(-2000)}`);
        assert.equal(acks.length, 1, 'one ACK');
        assert.ok(branchOf(invite).startsWith('z9hG4bK'), `INVITE branch ${branchOf(invite)}`);
        assert.equal(branchOf(acks[0]), branchOf(invite));
        assert.match(header(acks[0], 'CSeq'), /^1 ACK$/);
      } finally {
        far.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
