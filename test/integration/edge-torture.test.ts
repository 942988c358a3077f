import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { StreamFramer } from '../../lib/edge/message/framer';
import { runSipp } from '../support/sipp';
import { connectApp } from '../support/srf';

/**
 * RFC 4475 torture messages (§3.1.1 valid, §3.1.2 invalid, §3.3 application layer), written out
 * as the RFC gives them. `via` is the sent-by of the top Via: over UDP the test replaces it with
 * its own socket so that responses come back to it (over TCP the messages go out unchanged).
 * `expect`: 'accepted' (any answer but 400, and the app sees routed methods), a status list, or
 * 'refused' (a 400-class answer or nothing at all).
 */
interface TortureCase {
  section: string;
  name: string;
  text: string;
  via: string;
  expect: 'accepted' | 'refused' | number[];
  /** Methods the test's application routes and answers, so it must see this request. */
  reachesApp?: boolean;
  transports?: Array<'udp' | 'tcp'>;
  /** Over TCP the framing cannot be trusted after it: the edge must close the connection. */
  closesTcp?: boolean;
  /** Sent as latin1 (binary body octets) rather than UTF-8. */
  latin1?: boolean;
}

const CRLF = '\r\n';
const m = (lines: string[], body = ''): string => lines.join(CRLF) + CRLF + CRLF + body;
const sdp = (ip: string, t = '0 0') => ['v=0', `o=mhandley 29739 7272939 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, `t=${t}`,
  'm=audio 49217 RTP/AVP 0 12', 'm=video 3227 RTP/AVP 31', 'a=rtpmap:31 LPC', ''].join(CRLF);

const TORTURE: TortureCase[] = [
  // ── §3.1.1 valid messages: must be accepted ──
  {
    section: '3.1.1.1', name: 'wsinv (a short tortuous INVITE, its To tag names no dialog: 481)', via: '192.0.2.2', expect: [481],
    text: m(['INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0', 'TO :', ' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n',
      'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>', '  ;', '  tag = 98asjd8', 'MaX-fOrWaRdS: 0068',
      'Call-ID: wsinv.ndaksdj@192.0.2.1', 'Content-Length   : 150', 'cseq: 0009', '  INVITE', 'Via  : SIP  /   2.0', ' /UDP',
      '    192.0.2.2;branch=390skdjuw', 's :', 'NewFangledHeader:   newfangled value', ' continued newfangled value',
      'UnknownHeaderWithUnusualValue: ;;,,;;,;', 'Content-Type: application/sdp', 'Route:',
      ' <sip:services.example.com;lr;unknownwith=value;unknown-no-value>', 'v:  SIP  / 2.0  / TCP     spindle.example.com   ;',
      '  branch  =   z9hG4bK9ikj8  ,', ' SIP  /    2.0   / UDP  192.168.255.111   ; branch=', ' z9hG4bK30239',
      'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =', '      newvalue ;', '  secondparam ; q = 0.33'],
    ['v=0', 'o=mhandley 29739 7272939 IN IP4 192.0.2.3', 's=-', 'c=IN IP4 192.0.2.4', 't=0 0', 'm=audio 49217 RTP/AVP 0 12',
      'm=video 3227 RTP/AVP 31', 'a=rtpmap:31 LPC', ''].join(CRLF)),
  },
  {
    section: '3.1.1.2', name: 'intmeth (wide range of valid characters)', via: 'host1.example.com', expect: 'accepted',
    text: m(["!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
      "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
      'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>',
      "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com> ;fromParam''~+*_!.-%=\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439;tag=_token~1'+`*%!-.",
      "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{", "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
      'Max-Forwards: 255', "extensionHeader-!.%*+_`'~:\uFEFF\u5927\u505C\u96FB", 'Content-Length: 0']),
  },
  {
    section: '3.1.1.3', name: 'esc01 (valid use of the % escaping mechanism)', via: 'host5.example.net', expect: 'accepted', reachesApp: true,
    text: m(['INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0', 'To: sip:%75se%72@example.com',
      'From: <sip:I%20have%20spaces@example.net>;tag=938', 'Max-Forwards: 87', 'i: esc01.239409asdfakjkn23onasd0-3234',
      'CSeq: 234234 INVITE', 'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw', 'C: application/sdp', 'Contact:',
      '  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>', 'Content-Length: 150'], sdp('192.0.2.1')),
  },
  {
    section: '3.1.1.4', name: 'escnull (escaped nulls in URIs)', via: 'host5.example.com', expect: 'accepted', reachesApp: true,
    text: m(['REGISTER sip:example.com SIP/2.0', 'To: sip:null-%00-null@example.com', 'From: sip:null-%00-null@example.com;tag=839923423',
      'Max-Forwards: 70', 'Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd', 'CSeq: 14398234 REGISTER',
      'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw', 'Contact: <sip:%00@host5.example.com>',
      'Contact: <sip:%00%00@host5.example.com>', 'L:0']),
  },
  {
    section: '3.1.1.5', name: 'esc02 (use of % when it is not an escape)', via: 'host.example.com', expect: 'accepted',
    text: m(['RE%47IST%45R sip:registrar.example.com SIP/2.0', 'To: "%Z%45" <sip:resource@example.com>',
      'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23', 'Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf',
      'Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234', 'CSeq: 29344 RE%47IST%45R', 'Max-Forwards: 70',
      'Contact: <sip:alias1@host1.example.com>', 'C%6Fntact: <sip:alias2@host2.example.com>', 'Contact: <sip:alias3@host3.example.com>', 'l: 0']),
  },
  {
    section: '3.1.1.6', name: 'lwsdisp (message with no LWS between display name and <)', via: 'funky.example.com', expect: 'accepted', reachesApp: true,
    text: m(['OPTIONS sip:user@example.com SIP/2.0', 'To: sip:user@example.com', 'From: caller<sip:caller@example.com>;tag=323',
      'Max-Forwards: 70', 'Call-ID: lwsdisp.1234abcd@funky.example.com', 'CSeq: 60 OPTIONS',
      'Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw', 'l: 0']),
  },
  {
    section: '3.1.1.7', name: 'longreq (long values in header fields)', via: 'sip33.example.com', expect: 'accepted', reachesApp: true,
    text: m(['INVITE sip:user@example.com SIP/2.0',
      `To: "I have a user name of ${'extreme '.repeat(10)}proportion" <sip:user@example.com:6000;unknownparam1=very${'long'.repeat(20)}value;longparam${'name'.repeat(25)}=shortvalue;very${'long'.repeat(25)}ParameterNameWithNoValue>`,
      `F: sip:${'amazinglylongcallername'.repeat(5)}@example.net;tag=12${'982'.repeat(50)}424;unknownheaderparam${'name'.repeat(20)}=unknowheaderparam${'value'.repeat(15)};unknownValuelessparam${'paramname'.repeat(10)}`,
      `Call-ID: longreq.one${'really'.repeat(20)}longcallid`, 'CSeq: 3882340 INVITE',
      `Unknown-${'Long'.repeat(20)}-Name:unknown-${'long'.repeat(20)}-value;unknown-${'long'.repeat(20)}-parameter-name =unknown-${'long'.repeat(20)}-parameter-value`,
      'Via: SIP/2.0/TCP sip33.example.com', 'v: SIP/2.0/TCP sip32.example.com', 'V: SIP/2.0/TCP sip31.example.com', 'Via: SIP/2.0/TCP sip30.example.com',
      'ViA: SIP/2.0/TCP sip29.example.com', 'VIa: SIP/2.0/TCP sip28.example.com', 'VIA: SIP/2.0/TCP sip27.example.com', 'via: SIP/2.0/TCP sip26.example.com',
      'viA: SIP/2.0/TCP sip25.example.com', 'vIa: SIP/2.0/TCP sip24.example.com', 'vIA: SIP/2.0/TCP sip23.example.com', 'V :  SIP/2.0/TCP sip22.example.com',
      'v :  SIP/2.0/TCP sip21.example.com', 'V  : SIP/2.0/TCP sip20.example.com', 'v  : SIP/2.0/TCP sip19.example.com', 'Via : SIP/2.0/TCP sip18.example.com',
      'Via  : SIP/2.0/TCP sip17.example.com', ...Array.from({ length: 16 }, (_v, i) => `Via: SIP/2.0/TCP sip${16 - i}.example.com`),
      `Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very${'long'.repeat(50)}branchvalue`, 'Max-Forwards: 70',
      `Contact: <sip:${'amazinglylongcallername'.repeat(5)}@host5.example.net>`, 'Content-Type: application/sdp', 'l: 150'], sdp('192.0.2.1')),
  },
  {
    section: '3.1.1.8', name: 'dblreq (extra trailing octets in a UDP datagram)', via: '192.0.2.125', expect: 'accepted', reachesApp: true, transports: ['udp'],
    text: m(['REGISTER sip:example.com SIP/2.0', 'To: sip:j.user@example.com', 'From: sip:j.user@example.com;tag=43251j3j324', 'Max-Forwards: 8',
      'I: dblreq.0ha0isndaksdj99sdfafnl3lk233412', 'Contact: sip:j.user@host.example.com', 'CSeq: 8 REGISTER',
      'Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492', 'Content-Length: 0'],
    m(['INVITE sip:joe@example.com SIP/2.0', 't: sip:joe@example.com', 'From: sip:caller@example.net;tag=141334', 'Max-Forwards: 8',
      'Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15', 'CSeq: 8 INVITE', 'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234',
      'Content-Type: application/sdp', 'Content-Length: 150'], sdp('192.0.2.15'))),
  },
  {
    section: '3.1.1.9', name: 'semiuri (semicolon-separated parameters in URI user part)', via: '192.0.2.1', expect: 'accepted', reachesApp: true,
    text: m(['OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0', 'To: sip:j_user@example.com', 'From: sip:caller@example.org;tag=33242',
      'Max-Forwards: 3', 'Call-ID: semiuri.0ha0isndaksdj', 'CSeq: 8 OPTIONS', 'Accept: application/sdp, application/pkcs7-mime,',
      '  multipart/mixed, multipart/signed,', '  message/sip, message/sipfrag', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw', 'l: 0']),
  },
  {
    section: '3.1.1.10', name: 'transports (varied and unknown transport types)', via: 't1.example.com', expect: 'accepted', reachesApp: true,
    text: m(['OPTIONS sip:user@example.com SIP/2.0', 'To: sip:user@example.com', 'From: <sip:caller@example.com>;tag=323', 'Max-Forwards: 70',
      'Call-ID:  transports.kijh4akdnaqjkwendsasfdj', 'Accept: application/sdp', 'CSeq: 60 OPTIONS',
      'Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw', 'Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf',
      'Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj', 'Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en',
      'Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee', 'l: 0']),
  },
  {
    section: '3.1.1.11', name: 'mpart01 (multipart body with binary octets)', via: '127.0.0.1:5070', expect: 'accepted', reachesApp: true, latin1: true,
    text: m(['MESSAGE sip:kumiko@example.org SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport',
      'Max-Forwards: 70', 'Route: <sip:127.0.0.1:5080>', 'Contact: <sip:fluffy@127.0.0.1:5070>', 'To: <sip:kumiko@example.org>',
      'From: <sip:fluffy@example.com>;tag=2fb0dcc9', 'Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..', 'CSeq: 1 MESSAGE',
      'Content-Transfer-Encoding: binary', 'Content-Type: multipart/mixed;boundary=7a9cbec02ceef655', 'Date: Sat, 15 Oct 2005 04:44:56 GMT',
      'User-Agent: SIPimp.org/0.2.5 (curses)', 'Content-Length: 219'],
    ['--7a9cbec02ceef655', 'Content-Type: text/plain', 'Content-Transfer-Encoding: binary', '', 'Hello', '--7a9cbec02ceef655',
      'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: binary', '', '\x30\x82\x01\x52\x06\x09\x2A\x86',
      '--7a9cbec02ceef655--', ''].join(CRLF)),
  },
  {
    section: '3.1.1.12', name: 'unreason (unusual reason phrase): a stray response, absorbed', via: '192.0.2.198', expect: 'refused',
    text: m(['SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435',
      'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923', 'Call-ID: unreason.1234ksdfak3j2erwedfsASdf', 'CSeq: 35 INVITE',
      'From: sip:user@example.com;tag=11141343', 'To: sip:user@example.edu;tag=2229', 'Content-Length: 0']),
  },
  {
    section: '3.1.1.13', name: 'noreason (empty reason phrase): a stray response, absorbed', via: '192.0.2.105', expect: 'refused',
    text: m(['SIP/2.0 100 ', 'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe', 'Call-ID: noreason.asndj203insdf99223ndf',
      'CSeq: 35 INVITE', 'From: <sip:user@example.com>;tag=39ansfi3', 'To: <sip:user@example.edu>;tag=902jndnke3', 'Content-Length: 0']),
  },
  // ── §3.1.2 invalid messages: 400 (or a more precise 4xx/5xx) or dropped ──
  {
    section: '3.1.2.1', name: 'badinv01 (extraneous header field separators)', via: '192.0.2.15', expect: [400],
    text: m(['INVITE sip:user@example.com SIP/2.0', 'To: sip:j.user@example.com', 'From: sip:caller@example.net;tag=134161461246',
      'Max-Forwards: 7', 'Call-ID: badinv01.0ha0isndaksdjasdf3234nas', 'CSeq: 8 INVITE', 'Via: SIP/2.0/UDP 192.0.2.15;;,;,,',
      'Contact: "Joe" <sip:joe@example.org>;;;;', 'Content-Length: 152', 'Content-Type: application/sdp'], sdp('192.0.2.15')),
  },
  {
    section: '3.1.2.2', name: 'clerr (Content-Length larger than the message)', via: 'host5.example.com', expect: [400], transports: ['udp'],
    text: m(['INVITE sip:user@example.com SIP/2.0', 'Max-Forwards: 80', 'To: sip:j.user@example.com', 'From: sip:caller@example.net;tag=93942939o2',
      'Contact: <sip:caller@hungry.example.net>', 'Call-ID: clerr.0ha0isndaksdjweiafasdk3', 'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523', 'Content-Type: application/sdp', 'Content-Length: 9999'], sdp('192.0.2.155')),
  },
  {
    section: '3.1.2.3', name: 'ncl (negative Content-Length)', via: '192.0.2.53', expect: [400], closesTcp: true,
    text: m(['INVITE sip:user@example.com SIP/2.0', 'Max-Forwards: 254', 'To: sip:j.user@example.com', 'From: sip:caller@example.net;tag=32394234',
      'Call-ID: ncl.0ha0isndaksdj2193423r542w35', 'CSeq: 0 INVITE', 'Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw',
      'Contact: <sip:caller@example53.example.net>', 'Content-Type: application/sdp', 'Content-Length: -999'], sdp('192.0.2.53')),
  },
  {
    section: '3.1.2.4', name: 'scalar02 (request scalar fields with overlarge values)', via: 'host129.example.com', expect: [400],
    text: m(['REGISTER sip:example.com SIP/2.0', 'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3', 'To: <sip:user@example.com>',
      'From: <sip:user@example.com>;tag=239232jh3', 'CSeq: 36893488147419103232 REGISTER', 'Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32',
      'Max-Forwards: 300', `Expires: 1${'0'.repeat(100)}`, 'Contact: <sip:user@host129.example.com>', '  ;expires=280297596632815', 'Content-Length: 0']),
  },
  {
    section: '3.1.2.5', name: 'scalarlg (response scalar fields with overlarge values)', via: 'host129.example.com', expect: 'refused',
    text: m(['SIP/2.0 503 Service Unavailable', 'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129',
      'To: <sip:user@example.com>', 'From: <sip:other@example.net>;tag=2easdjfejw', 'CSeq: 9292394834772304023312 OPTIONS',
      'Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r', 'Retry-After: 949302838503028349304023988', 'Warning: 1812 overture "In Progress"', 'Content-Length: 0']),
  },
  {
    section: '3.1.2.6', name: 'quotbal (unterminated quoted string in display name)', via: '192.0.2.59:5050', expect: [400],
    text: m(['INVITE sip:user@example.com SIP/2.0', 'To: "Mr. J. User <sip:j.user@example.com>', 'From: sip:caller@example.net;tag=93334',
      'Max-Forwards: 10', 'Call-ID: quotbal.aksdj', 'Contact: <sip:caller@host59.example.net>', 'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234', 'Content-Type: application/sdp', 'Content-Length: 152'], sdp('192.0.2.15')),
  },
  {
    section: '3.1.2.7', name: 'ltgtruri (<> enclosing the Request-URI)', via: '192.0.2.5', expect: [400],
    text: m(['INVITE <sip:user@example.com> SIP/2.0', 'To: sip:user@example.com', 'From: sip:caller@example.net;tag=39291', 'Max-Forwards: 23',
      'Call-ID: ltgtruri.1@192.0.2.5', 'CSeq: 1 INVITE', 'Via: SIP/2.0/UDP 192.0.2.5', 'Contact: <sip:caller@host5.example.net>',
      'Content-Type: application/sdp', 'Content-Length: 159'], sdp('192.0.2.5', '3149328700 0')),
  },
  {
    section: '3.1.2.8', name: 'lwsruri (malformed SIP Request-URI, embedded LWS)', via: '192.0.2.1:5060', expect: [400],
    text: m(['INVITE sip:user@example.com; lr SIP/2.0', 'To: sip:user@example.com;tag=3xfe-9921883-z9f', 'From: sip:caller@example.net;tag=231413434',
      'Max-Forwards: 5', 'Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423', 'CSeq: 2130706432 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395', 'Contact: <sip:caller@host1.example.net>', 'Content-Type: application/sdp',
      'Content-Length: 159'], sdp('192.0.2.1', '3149328700 0')),
  },
  {
    section: '3.1.2.9', name: 'lwsstart (multiple SP separating Request-Line elements)', via: 'host1.example.com', expect: [400],
    text: m(['INVITE  sip:user@example.com  SIP/2.0', 'Max-Forwards: 8', 'To: sip:user@example.com', 'From: sip:caller@example.net;tag=8814',
      'Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com', 'CSeq: 1893884 INVITE', 'Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923',
      'Contact: <sip:caller@host1.example.net>', 'Content-Type: application/sdp', 'Content-Length: 150'], sdp('192.0.2.1')),
  },
  {
    section: '3.1.2.10', name: 'trws (SP characters at end of Request-Line)', via: 'host1.example.com', expect: [400],
    text: m(['OPTIONS sip:remote-target@example.com SIP/2.0  ', 'Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093',
      'To: <sip:remote-target@example.com>', 'From: <sip:local-resource@example.com>;tag=329429089', 'Call-ID: trws.oicu34958239neffasdhr2345r',
      'Accept: application/sdp', 'CSeq: 238923 OPTIONS', 'Max-Forwards: 70', 'Content-Length: 0']),
  },
  {
    section: '3.1.2.11', name: 'escruri (escaped headers in SIP Request-URI)', via: 'host-of-the-hour.example.com', expect: 'accepted', reachesApp: true,
    text: m(['INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0', 'To: sip:user@example.com', 'From: sip:caller@example.net;tag=341518',
      'Max-Forwards: 7', 'Contact: <sip:caller@host39923.example.net>', 'Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5',
      'CSeq: 149209342 INVITE', 'Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw', 'Content-Type: application/sdp',
      'Content-Length: 150'], sdp('192.0.2.1')),
  },
  {
    section: '3.1.2.12', name: 'baddate (invalid time zone in Date): processed', via: 'host.example.com', expect: 'accepted', reachesApp: true,
    text: m(['INVITE sip:user@example.com SIP/2.0', 'To: sip:user@example.com', 'From: sip:caller@example.net;tag=2234923', 'Max-Forwards: 70',
      'Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234', 'CSeq: 1392934 INVITE', 'Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw',
      'Date: Fri, 01 Jan 2010 16:00:00 EST', 'Contact: <sip:caller@host5.example.net>', 'Content-Type: application/sdp', 'Content-Length: 150'], sdp('192.0.2.5')),
  },
  {
    section: '3.1.2.13', name: 'regbadct (failure to enclose name-addr URI in <>)', via: '135.180.130.133:5060', expect: [400],
    text: m(['REGISTER sip:example.com SIP/2.0', 'To: sip:user@example.com', 'From: sip:user@example.com;tag=998332', 'Max-Forwards: 70',
      'Call-ID: regbadct.k345asrl3fdbv@10.0.0.1', 'CSeq: 1 REGISTER', 'Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw',
      'Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E', 'l: 0']),
  },
  {
    section: '3.1.2.14', name: 'badaspec (spaces within addr-spec): tolerated', via: 'host4.example.com:5060', expect: 'accepted', reachesApp: true,
    text: m(['OPTIONS sip:user@example.org SIP/2.0', 'Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234', 'Max-Forwards: 70',
      'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423', 'To: "Watson, Thomas" < sip:t.watson@example.org >',
      'Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3', 'Accept: application/sdp', 'CSeq: 3923239 OPTIONS', 'l: 0']),
  },
  {
    section: '3.1.2.15', name: 'baddn (non-token characters in display name)', via: 'c.example.com:5060', expect: [400],
    text: m(['OPTIONS sip:t.watson@example.org SIP/2.0', 'Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw', 'Max-Forwards:      70',
      'From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43', 'To:      Watson, Thomas <sip:t.watson@example.org>',
      'Call-ID: baddn.31415@c.example.com', 'Accept: application/sdp', 'CSeq:    3923239 OPTIONS', 'l: 0']),
  },
  {
    section: '3.1.2.16', name: 'badvers (unknown protocol version)', via: 'c.example.com', expect: [505, 400],
    text: m(['OPTIONS sip:t.watson@example.org SIP/7.0', 'Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw', 'Max-Forwards:     70',
      'From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe', 'To:      T. Watson <sip:t.watson@example.org>',
      'Call-ID: badvers.31417@c.example.com', 'CSeq:    1 OPTIONS', 'l: 0']),
  },
  {
    section: '3.1.2.17', name: 'mismatch01 (start line and CSeq method mismatch)', via: 'host.example.com', expect: [400],
    text: m(['OPTIONS sip:user@example.com SIP/2.0', 'To: sip:j.user@example.com', 'From: sip:caller@example.net;tag=34525', 'Max-Forwards: 6',
      'Call-ID: mismatch01.dj0234sxdfl3', 'CSeq: 8 INVITE', 'Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw', 'l: 0']),
  },
  {
    section: '3.1.2.18', name: 'mismatch02 (unknown method with CSeq method mismatch)', via: 'host.example.net', expect: [400],
    text: m(['NEWMETHOD sip:user@example.com SIP/2.0', 'To: sip:j.user@example.com', 'From: sip:caller@example.net;tag=34525', 'Max-Forwards: 6',
      'Call-ID: mismatch02.dj0234sxdfl3', 'CSeq: 8 INVITE', 'Contact: <sip:caller@host.example.net>', 'Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw',
      'Content-Type: application/sdp', 'l: 138'],
    ['v=0', 'o=mhandley 29739 7272939 IN IP4 192.0.2.1', 'c=IN IP4 192.0.2.1', 'm=audio 49217 RTP/AVP 0 12', 'm=video 3227 RTP/AVP 31', 'a=rtpmap:31 LPC', ''].join(CRLF)),
  },
  {
    section: '3.1.2.19', name: 'bigcode (overlarge response code)', via: '192.0.2.105', expect: 'refused',
    text: m(['SIP/2.0 4294967301 better not break the receiver', 'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe',
      'Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i', 'CSeq: 353494 INVITE', 'From: <sip:user@example.com>;tag=39ansfi3',
      'To: <sip:user@example.edu>;tag=902jndnke3', 'Content-Length: 0', 'Contact: <sip:user@host105.example.com>']),
  },
  // ── §3.3 application-layer semantics ──
  {
    section: '3.3.1', name: 'insuf (missing required header fields)', via: '192.0.2.95', expect: [400],
    text: m(['INVITE sip:user@example.com SIP/2.0', 'CSeq: 193942 INVITE', 'Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf',
      'Content-Type: application/sdp', 'l: 152'], sdp('192.0.2.95')),
  },
  {
    section: '3.3.2', name: 'unkscm (Request-URI with unknown scheme)', via: 'host9.example.com', expect: [416],
    text: m(['OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0', 'To: sip:user@example.com', 'From: sip:caller@example.net;tag=384',
      'Max-Forwards: 3', 'Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34', 'CSeq: 3923423 OPTIONS',
      'Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234', 'Content-Length: 0']),
  },
  {
    section: '3.3.3', name: 'novelsc (Request-URI with known but atypical scheme)', via: 'host9.example.com', expect: [416],
    text: m(['OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0', 'To: sip:user@example.com', 'From: sip:caller@example.net;tag=384',
      'Max-Forwards: 3', 'Call-ID: novelsc.asdfasser0q239nwsdfasdkl34', 'CSeq: 3923423 OPTIONS',
      'Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234', 'Content-Length: 0']),
  },
  {
    section: '3.3.4', name: 'unksm2 (unknown URI schemes in header fields)', via: '192.0.2.21:5060', expect: [416, 400],
    text: m(['REGISTER sip:example.com SIP/2.0', 'To: isbn:2983792873', 'From: <http://www.example.com>;tag=3234233',
      'Call-ID: unksm2.daksdj@hyphenated-host.example.com', 'CSeq: 234902 REGISTER', 'Max-Forwards: 70',
      'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw', 'Contact: <name:John_Smith>', 'l: 0']),
  },
  {
    section: '3.3.5', name: 'bext01 (proxy-require and require)', via: 'fold-and-staple.example.com', expect: [420],
    text: m(['OPTIONS sip:user@example.com SIP/2.0', 'To: sip:j_user@example.com', 'From: sip:caller@example.net;tag=242etr', 'Max-Forwards: 6',
      'Call-ID: bext01.0ha0isndaksdj', 'Require: nothingSupportsThis, nothingSupportsThisEither',
      'Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis', 'CSeq: 8 OPTIONS',
      'Via: SIP/2.0/UDP fold-and-staple.example.com;branch=z9hG4bKkdjuw', 'Content-Length: 0']),
  },
  {
    section: '3.3.6', name: 'invut (unknown content-type): for the application to judge', via: 'somehost.example.com', expect: 'accepted', reachesApp: true,
    text: m(['INVITE sip:user@example.com SIP/2.0', 'Contact: <sip:caller@host5.example.net>', 'To: sip:j.user@example.com',
      'From: sip:caller@example.net;tag=8392034', 'Max-Forwards: 70', 'Call-ID: invut.0ha0isndaksdjadsfij34n23d', 'CSeq: 235448 INVITE',
      'Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw', 'Content-Type: application/unknownformat', 'Content-Length: 40'],
    '<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n'),
  },
  {
    section: '3.3.7', name: 'regaut01 (unknown authorization scheme): for the application', via: '192.0.2.253', expect: 'accepted', reachesApp: true,
    text: m(['REGISTER sip:example.com SIP/2.0', 'To: sip:j.user@example.com', 'From: sip:j.user@example.com;tag=87321hj23128',
      'Max-Forwards: 8', 'Call-ID: regaut01.0ha0isndaksdj', 'CSeq: 9338 REGISTER', 'Via: SIP/2.0/UDP 192.0.2.253;branch=z9hG4bKkdjuw',
      'Authorization: NoOneKnowsThisScheme opaque-data=here', 'Content-Length:0']),
  },
  {
    section: '3.3.8', name: 'multi01 (multiple values in single-value header fields)', via: '192.0.2.25', expect: [400],
    text: m(['INVITE sip:user@company.com SIP/2.0', 'Contact: <sip:caller@host25.example.net>', 'Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw',
      'Max-Forwards: 70', 'CSeq: 5 INVITE', 'Call-ID: multi01.98asdh@192.0.2.1', 'CSeq: 59 INVITE', 'Call-ID: multi01.98asdh@192.0.2.2',
      'From: sip:caller@example.com;tag=3413415', 'To: sip:user@example.com', 'To: sip:other@example.net', 'From: sip:caller@example.net;tag=2923420123',
      'Content-Type: application/sdp', 'l: 152', 'Contact: <sip:caller@host36.example.net>', 'Max-Forwards: 5'], sdp('192.0.2.25')),
  },
  {
    section: '3.3.9', name: 'mcl01 (multiple Content-Length values)', via: 'host5.example.net', expect: [400], closesTcp: true,
    text: m(['OPTIONS sip:user@example.com SIP/2.0', 'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423', 'To: sip:user@example.com',
      'From: sip:other@example.net;tag=3923942', 'Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf', 'CSeq: 15932 OPTIONS', 'Content-Length: 13',
      'Max-Forwards: 60', 'Content-Length: 5', 'Content-Type: text/plain'], "There's no way to know how many octets are supposed to be here.\r\n"),
  },
  {
    section: '3.3.10', name: 'bcast (200 OK with broadcast Via): a stray response, absorbed', via: '192.0.2.198', expect: 'refused',
    text: m(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923', 'Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23',
      'Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf', 'CSeq: 35 INVITE', 'From: sip:user@example.com;tag=11141343',
      'To: sip:user@example.edu;tag=2229', 'Content-Length: 0', 'Contact: <sip:user@host28.example.com>']),
  },
  {
    section: '3.3.11', name: 'zeromf (Max-Forwards of zero)', via: 'host1.example.com', expect: [483, 200],
    text: m(['OPTIONS sip:user@example.com SIP/2.0', 'To: sip:user@example.com', 'From: sip:caller@example.net;tag=3ghsd41',
      'Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas', 'CSeq: 39234321 OPTIONS', 'Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i',
      'Max-Forwards: 0', 'Content-Length: 0']),
  },
  {
    section: '3.3.12', name: 'cparam01 (unusual Contact parameters, addr-spec)', via: 'saturn.example.com:5060', expect: 'accepted', reachesApp: true,
    text: m(['REGISTER sip:example.com SIP/2.0', 'Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw', 'Max-Forwards: 70',
      'From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe', 'To: sip:watson@example.com', 'Call-ID: cparam01.70710@saturn.example.com',
      'CSeq: 2 REGISTER', 'Contact: sip:+19725552222@gw1.example.net;unknownparam', 'l: 0']),
  },
  {
    section: '3.3.13', name: 'cparam02 (unusual Contact parameters, name-addr)', via: 'saturn.example.com:5060', expect: 'accepted', reachesApp: true,
    text: m(['REGISTER sip:example.com SIP/2.0', 'Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw', 'Max-Forwards: 70',
      'From: sip:watson@example.com;tag=838293', 'To: sip:watson@example.com', 'Call-ID: cparam02.70710@saturn.example.com',
      'CSeq: 3 REGISTER', 'Contact: <sip:+19725552222@gw1.example.net;unknownparam>', 'l: 0']),
  },
  {
    section: '3.3.14', name: 'regescrt (REGISTER with a URL escaped header)', via: 'host5.example.com', expect: 'accepted', reachesApp: true,
    text: m(['REGISTER sip:example.com SIP/2.0', 'To: sip:user@example.com', 'From: sip:user@example.com;tag=8', 'Max-Forwards: 70',
      'Call-ID: regescrt.k345asrl3fdbv@192.0.2.1', 'CSeq: 14398234 REGISTER', 'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw',
      'M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>', 'L:0']),
  },
  {
    section: '3.3.15', name: 'sdp01 (unacceptable Accept offering)', via: '192.0.2.15', expect: 'accepted', reachesApp: true,
    text: m(['INVITE sip:user@example.com SIP/2.0', 'To: sip:j_user@example.com', 'Contact: <sip:caller@host15.example.net>',
      'From: sip:caller@example.net;tag=234', 'Max-Forwards: 5', 'Call-ID: sdp01.ndaksdj9342dasdd', 'Accept: text/nobodyKnowsThis',
      'CSeq: 8 INVITE', 'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw', 'Content-Length: 150', 'Content-Type: application/sdp'], sdp('192.0.2.5')),
  },
];


const SCEN = path.resolve(__dirname, '../../../scenarios/edge');
type Transport = 'udp' | 'tcp';
interface Answer { status: number; callId: string | null }

function answerOf(buf: Buffer): Answer | null {
  const text = buf.toString('latin1');
  const status = /^SIP\/2\.0 (\d{3})/.exec(text);
  if (!status) return null;
  const callId = /\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)/i.exec(text);
  return { status: Number(status[1]), callId: callId ? callId[1].trim() : null };
}

/** The top Via's sent-by becomes the test socket, so that UDP responses come back to it. */
function pointViaAt(text: string, via: string, hostport: string): string {
  const viaLine = text.search(/\r\n(?:via|v)[ \t]*:/i);
  const at = text.indexOf(via, viaLine < 0 ? 0 : viaLine);
  return at < 0 ? text : text.slice(0, at) + hostport + text.slice(at + via.length);
}

let probeCount = 0;
function probe(hostport: string, tp: Transport): { callId: string; bytes: Buffer } {
  const callId = `probe-${++probeCount}-${Date.now()}`;
  const text = [`OPTIONS sip:probe@127.0.0.1 SIP/2.0`, `Via: SIP/2.0/${tp.toUpperCase()} ${hostport};branch=z9hG4bKprobe${probeCount};rport`,
    'Max-Forwards: 70', 'From: <sip:probe@127.0.0.1>;tag=p1', 'To: <sip:probe@127.0.0.1>', `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS',
    'Content-Length: 0', '', ''].join('\r\n');
  return { callId, bytes: Buffer.from(text) };
}

/**
 * Sends one torture message and then an ordinary OPTIONS on the same socket; collects the answers
 * until the OPTIONS is answered (the edge is not stalled) and, when `awaitFinal`, until the torture
 * message got a final response too. Bounded by `ms`.
 */
async function exchange(tp: Transport, edgePort: number, c: TortureCase, awaitFinal: boolean, ms = 5000): Promise<{ answers: Answer[]; probeAnswered: boolean; closed: boolean }> {
  const answers: Answer[] = [];
  let probeAnswered = false;
  let closed = false;
  const encoding = c.latin1 ? 'latin1' : 'utf8';
  const finished = (probeId: string) => {
    probeAnswered = answers.some((a) => a.callId === probeId && a.status >= 200);
    const finalSeen = answers.some((a) => a.callId !== probeId && a.status >= 200);
    return probeAnswered && (!awaitFinal || finalSeen);
  };
  if (tp === 'udp') {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const hostport = `127.0.0.1:${sock.address().port}`;
    const p = probe(hostport, 'udp');
    try {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        sock.on('message', (data) => {
          const a = answerOf(data);
          if (a && a.status >= 100) answers.push(a);
          if (finished(p.callId)) { clearTimeout(timer); resolve(); }
        });
        sock.send(Buffer.from(pointViaAt(c.text, c.via, hostport), encoding), edgePort, '127.0.0.1');
        sock.send(p.bytes, edgePort, '127.0.0.1');
      });
    } finally { sock.close(); }
    return { answers, probeAnswered, closed };
  }
  const sock = net.connect({ host: '127.0.0.1', port: edgePort });
  await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
  const p = probe(`127.0.0.1:${sock.localPort}`, 'tcp');
  const framer = new StreamFramer(1 << 20);
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      sock.on('data', (data) => {
        for (const f of framer.push(data)) { const a = answerOf(f); if (a) answers.push(a); }
        if (finished(p.callId)) { clearTimeout(timer); resolve(); }
      });
      sock.on('error', () => undefined);
      sock.on('close', () => { closed = true; clearTimeout(timer); resolve(); });
      sock.write(Buffer.from(c.text, encoding));
      sock.write(p.bytes);
    });
  } finally { sock.destroy(); }
  return { answers, probeAnswered, closed };
}

describe('SIP edge: RFC 4475 torture messages over UDP and TCP', function () {
  this.timeout(60_000);
  let edge: EdgeServer;
  let srf: Srf;
  const seen = new Set<string>();
  const port = (tp: Transport) => (edge.sipAddresses.find((a) => a.transport === tp) as { port: number }).port;

  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }, { transport: 'tcp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 'torture' },
      timers: { t1: 50, t2: 400, t4: 500 },
    }, silentLogger());
    srf = new Srf();
    const note = (req: Srf.SrfRequest) => seen.add(req.get('Call-ID'));
    srf.invite((req, res) => { note(req); res.send(486); });
    for (const method of ['options', 'register', 'message'] as const) {
      const route = (srf as unknown as Record<string, (fn: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void) => void>)[method];
      route.call(srf, (req, res) => { note(req); res.send(200); });
    }
    await connectApp(srf, edge.controlPort, 'torture');
  });
  after(async () => { srf.disconnect(); await edge.close(); });

  for (const tp of ['udp', 'tcp'] as const) {
    describe(`over ${tp.toUpperCase()}`, () => {
      for (const c of TORTURE.filter((x) => !x.transports || x.transports.includes(tp))) {
        const expectation = c.expect === 'accepted' ? 'accepted' : c.expect === 'refused' ? 'refused or dropped' : `answered ${c.expect.join(' or ')}`;
        it(`§${c.section} ${c.name}: ${expectation}`, async () => {
          const isRequest = !c.text.startsWith('SIP/');
          const callId = /\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)/i.exec(c.text)?.[1].trim() ?? null;
          const r = await exchange(tp, port(tp), c, isRequest && c.expect !== 'refused');
          const mine = r.answers.filter((a) => a.status >= 200 && !(a.callId ?? '').startsWith('probe-'));
          if (c.expect === 'refused') {
            assert.ok(mine.every((a) => a.status >= 400), `answered ${mine.map((a) => a.status).join(',')}`);
          } else if (c.expect === 'accepted') {
            assert.ok(r.probeAnswered, 'the edge did not answer the next request');
            assert.equal(mine.length >= 1, true, 'no final response');
            assert.ok(![400, 413, 416, 505].includes(mine[0].status), `refused with ${mine[0].status}`);
            if (c.reachesApp) {
              assert.ok(callId && seen.has(callId), `the application never saw it (answered ${mine.map((a) => a.status).join(',')})`);
              assert.equal(mine[0].status, c.text.startsWith('INVITE') ? 486 : 200);
            }
          } else {
            assert.ok(mine.length >= 1, 'no answer');
            assert.ok(c.expect.includes(mine[0].status), `answered ${mine[0].status}`);
          }
          if (c.expect !== 'accepted' && callId) assert.ok(!seen.has(callId), 'the application was given it');
          if (tp === 'tcp' && c.closesTcp) assert.ok(r.closed, 'the connection stayed open after a framing error');
          // whatever happened, the edge goes on: over UDP the next request on the socket is answered,
          // over TCP either that or the connection was closed after a framing error
          assert.ok(r.probeAnswered || (tp === 'tcp' && r.closed), 'the edge stalled');
        });
      }

      it('after the torture an ordinary call is still answered', async () => {
        const r = await runSipp({ scenario: { file: path.join(SCEN, 'uac-expect-486.xml') }, transport: tp, target: `127.0.0.1:${port(tp)}`, calls: 2, timeoutMs: 15_000 });
        assert.equal(r.exitCode, 0, r.stderr.slice(-1500));
        assert.equal(r.stats.failed, 0);
      });
    });
  }

  describe('when the torture is over', () => {
    it('the refusals were counted and no transaction or dialog was left behind', async () => {
      const c = edge.counters();
      assert.ok(c.badMessages >= 30, `badMessages ${c.badMessages}`);
      const end = Date.now() + 10_000;
      while (edge.counters().liveServerTransactions > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.equal(edge.counters().liveServerTransactions, 0);
      assert.equal(edge.counters().liveDialogs, 0);
    });
  });
});
