import { describe, expect, it } from 'vitest';
import { ControlError } from '../../../src/control/control-error.js';
import { parseUpgradeRequest } from '../../../src/control/upgrade-request.js';
import { boundFor } from '../../../src/net/unix-socket-file.js';
import { parseHandoverReport } from '../../../src/upgrade/handover-report.js';

describe('boundFor: which path a socket serves, from the name the kernel recorded', () => {
  it('its own path, or listenInPlace scratch name for that path beside it', () => {
    expect(boundFor('/run/sy/app.sock', '/run/sy/app.sock')).toBe(true);
    expect(boundFor('/run/sy/.app.sock.123.1', '/run/sy/app.sock')).toBe(true);
    expect(boundFor('/run/sy/.app.sock.123.1', '/run/sy/control.sock')).toBe(false);
    expect(boundFor('/elsewhere/.app.sock.123.1', '/run/sy/app.sock')).toBe(false);
    expect(boundFor('/run/sy/.app.sock.x.1', '/run/sy/app.sock')).toBe(false);
    expect(boundFor('/run/sy/other.sock', '/run/sy/app.sock')).toBe(false);
  });
});

describe('the upgrade request and report', () => {
  it('takes {} or an absolute binary; refuses anything else with 400', () => {
    expect(parseUpgradeRequest('')).toEqual({});
    expect(parseUpgradeRequest('{}')).toEqual({});
    expect(parseUpgradeRequest('{"binary": "/usr/local/bin/switchyard"}')).toEqual({
      binary: '/usr/local/bin/switchyard',
    });
    for (const body of [
      '{"binary": "switchyard"}',
      '{"binary": 1}',
      '{"force": true}',
      '[]',
      '{',
    ]) {
      expect(() => parseUpgradeRequest(body), body).toThrow(ControlError);
    }
  });

  it('reads ready and failed reports; anything else is null', () => {
    expect(parseHandoverReport('{"ok":true,"pid":7}')).toEqual({ ok: true, pid: 7 });
    expect(parseHandoverReport('{"ok":false,"pid":7,"message":"config error: x"}')).toEqual({
      ok: false,
      pid: 7,
      message: 'config error: x',
    });
    expect(parseHandoverReport('{"ok":false,"pid":7}')).toBeNull();
    expect(parseHandoverReport('ready')).toBeNull();
  });
});
