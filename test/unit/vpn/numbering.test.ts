import assert from 'node:assert/strict';
import { classifyDestination, normaliseNumber, parseDialString, toE164, type NumberingPlan, type NumberResult } from '../../../lib/vpn';
import { PLAN } from './fixture';

function outcome(result: NumberResult): string {
  return result.ok ? result.value : `${result.refusal.status} ${result.refusal.code}`;
}

describe('parseDialString: the digits in a URI or a typed number', () => {
  const cases: [string, string][] = [
    ['1002', '1002'],
    ['+4930123456', '+4930123456'],
    ['sip:1002@pbx.example', '1002'],
    ['sips:+4930123456@pbx.example:5061;transport=tls', '+4930123456'],
    ['SIP:030123456@pbx.example', '030123456'],
    ['<sip:+49-30-123456@host;user=phone>', '+4930123456'],
    ['"Bob Smith" <sip:+49 (30) 123.456@host;user=phone>;tag=abc', '+4930123456'],
    ['tel:+49-30-123456', '+4930123456'],
    ['tel:030 123456;phone-context=example.com', '030123456'],
    ['sip:+4930123456;isub=12@host;user=phone', '+4930123456'],
    ['sip:%2B4930123456@host', '+4930123456'],
    ['  9 030/123456 ', '9030123456'],
    ['', '484 INCOMPLETE_NUMBER'],
    ['   ', '484 INCOMPLETE_NUMBER'],
    ['+', '484 INCOMPLETE_NUMBER'],
    ['tel:-', '484 INCOMPLETE_NUMBER'],
    ['sip:pbx.example', '404 INVALID_NUMBER'],
    ['sip:@pbx.example', '404 INVALID_NUMBER'],
    ['sip:alice@pbx.example', '404 INVALID_NUMBER'],
    ['12#4', '404 INVALID_NUMBER'],
    ['*21*1002', '404 INVALID_NUMBER'],
    ['49+30', '404 INVALID_NUMBER'],
    ['sip:%zz12@host', '404 INVALID_NUMBER'],
    ['<sip:1002@host', '404 INVALID_NUMBER'],
    ['mailto:1002@host', '416 UNSUPPORTED_URI_SCHEME'],
    ['http://host/1002', '416 UNSUPPORTED_URI_SCHEME'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(outcome(parseDialString(input)), expected));
  }
});

describe('toE164: dialled digits to E.164 with the configured prefixes', () => {
  const cases: [string, string][] = [
    ['+4930123456', '4930123456'],
    ['004930123456', '4930123456'],
    ['030123456', '4930123456'],
    ['00442071234567', '442071234567'],
    ['4930123456', '4930123456'], // trunks send E.164 without '+'
    ['+442071234567', '442071234567'],
    ['0301', '484 INCOMPLETE_NUMBER'], // three national digits
    ['0', '484 INCOMPLETE_NUMBER'],
    ['00', '484 INCOMPLETE_NUMBER'],
    ['+4912', '484 INCOMPLETE_NUMBER'],
    ['1001', '484 INCOMPLETE_NUMBER'], // too short to be E.164
    ['+0301234567', '404 INVALID_NUMBER'], // no country code starts with 0
    ['0000301234567', '404 INVALID_NUMBER'],
    ['+1234567890123456', '404 INVALID_NUMBER'], // 16 digits
    ['0+4930123', '404 INVALID_NUMBER'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(outcome(toE164(input, PLAN)), expected));
  }

  it('a number with no prefix takes the local prefix when one is given', () => {
    assert.equal(outcome(toE164('555000', PLAN, { localPrefix: '4930' })), '4930555000');
    assert.equal(outcome(toE164('0895550000', PLAN, { localPrefix: '4930' })), '49895550000');
  });

  const northAmerica: NumberingPlan = { countryCode: '1', nationalPrefix: '1', internationalPrefix: '011' };
  const nanp: [string, string][] = [
    ['12125551234', '12125551234'],
    ['011442071234567', '442071234567'],
    ['+12125551234', '12125551234'],
  ];
  for (const [input, expected] of nanp) {
    it(`with country code 1, national prefix 1 and international 011: ${input} → ${expected}`, () => assert.equal(outcome(toE164(input, northAmerica)), expected));
  }

  const noNationalPrefix: NumberingPlan = { countryCode: '39', nationalPrefix: '', internationalPrefix: '00' };
  it('with no national prefix, a number without prefix is taken as E.164', () => {
    assert.equal(outcome(toE164('390612345678', noNationalPrefix)), '390612345678');
    assert.equal(outcome(toE164('0049301234', noNationalPrefix)), '49301234');
  });
});

describe('normaliseNumber: URIs straight to E.164', () => {
  const cases: [string, string][] = [
    ['sip:+4930123456@host;user=phone', '4930123456'],
    ['<tel:030-123456>', '4930123456'],
    ['"Ann" <sip:0049 30 123456@host>', '4930123456'],
    ['sip:anonymous@anonymous.invalid', '404 INVALID_NUMBER'],
    ['tel:0301', '484 INCOMPLETE_NUMBER'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(outcome(normaliseNumber(input, PLAN)), expected));
  }
});

describe('classifyDestination: local, national or international for the call classes', () => {
  const cases: [string, string, string][] = [
    ['4930555000', '4930100001', 'local'],
    ['4989555000', '4930100001', 'national'],
    ['4930', '4930100001', 'national'], // the area code alone is not a local number
    ['442071234567', '4930100001', 'international'],
    ['4930555000', '442071234567', 'national'], // a foreign caller has no local area here
  ];
  for (const [destination, caller, expected] of cases) {
    it(`${destination} from ${caller} is ${expected}`, () => assert.equal(classifyDestination(destination, caller, PLAN), expected));
  }
});
