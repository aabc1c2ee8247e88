import { describe, expect, it } from 'vitest';
import { SECRET_MASK, maskSecretParams, type CommandSecretHints } from './secrets';

const commands: CommandSecretHints[] = [
  { id: 'snmp.get', ui: { fields: { community: { widget: 'password', secret: true }, port: { widget: 'updown' } } } },
  { id: 'http.get', ui: { fields: { token: { secret: true }, url: {} } } },
  { id: 'ping.icmp', ui: { fields: { count: { widget: 'updown' } } } },
  { id: 'ssh.run' },
];

describe('maskSecretParams', () => {
  it('masks the values of the params the library marks secret, and only those', () => {
    const actions = [
      { command: 'snmp.get', name: 'Uptime', params: { community: 'public', port: 161, oids: ['.1.3.6.1.2.1.1.3.0'] } },
      { command: 'http.get', params: { url: 'https://x', token: { nested: 's3cret' } } },
      { command: 'ping.icmp', params: { count: 3 } },
      { command: 'ssh.run', params: { cmd: 'uptime' } },
    ];
    const masked = maskSecretParams(actions, commands);
    expect(masked[0]).toEqual({ command: 'snmp.get', name: 'Uptime', params: { community: SECRET_MASK, port: 161, oids: ['.1.3.6.1.2.1.1.3.0'] } });
    expect(masked[1].params).toEqual({ url: 'https://x', token: SECRET_MASK });
    // Nothing secret: the very same object.
    expect(masked[2]).toBe(actions[2]);
    expect(masked[3]).toBe(actions[3]);
    // The input is left alone.
    expect(actions[0].params.community).toBe('public');
    expect(JSON.stringify(masked)).not.toContain('public');
    expect(JSON.stringify(masked)).not.toContain('s3cret');
  });

  it('leaves empty secret params empty (nothing to hide, and "not set" stays visible)', () => {
    const masked = maskSecretParams([{ command: 'snmp.get', params: { community: '' } }, { command: 'http.get' }], commands);
    expect(masked[0].params).toEqual({ community: '' });
    expect(masked[1]).toEqual({ command: 'http.get' });
  });

  it('masks every param while the library is unknown, or of a command it does not have', () => {
    const actions = [{ command: 'snmp.get', params: { community: 'public', port: 161 } }];
    expect(maskSecretParams(actions, undefined)[0].params).toEqual({ community: SECRET_MASK, port: SECRET_MASK });
    expect(maskSecretParams([{ command: 'gone.cmd', params: { key: 'x' } }], commands)[0].params).toEqual({ key: SECRET_MASK });
  });
});
