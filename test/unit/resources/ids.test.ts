// Resource ids: each kind's helper builds the very id its resource carries, and shortName (the name
// a reason shows) drops exactly the kinds built here, keeping any other id whole.
import { describe, expect, it } from 'vitest';
import { command } from '../../../src/resources/command.ts';
import { absentFile, file } from '../../../src/resources/file.ts';
import { firewallRuleId } from '../../../src/resources/firewall.ts';
import { commandId, fileId, packagesId, serviceId, shortName } from '../../../src/resources/ids.ts';
import { packages } from '../../../src/resources/packages.ts';
import { service } from '../../../src/resources/service.ts';

describe('resource ids', () => {
  it('are the ids the resources carry', () => {
    expect(file({ path: '/etc/mail/access', content: '' }).id).toBe(fileId('/etc/mail/access'));
    expect(absentFile({ path: '/etc/mail/authinfo' }).id).toBe(fileId('/etc/mail/authinfo'));
    expect(command({ name: 'makemap access', run: 'true', creates: '/x' }).id).toBe(commandId('makemap access'));
    expect(service({ name: 'sendmail' }).id).toBe(serviceId('sendmail'));
    expect(packages({ names: ['sendmail', 'sendmail-cf'] }).id).toBe(packagesId('sendmail,sendmail-cf'));
    expect(packages({ name: 'mta', names: ['sendmail'] }).id).toBe(packagesId('mta'));
  });

  it('put the kind first', () => {
    expect([fileId('/a'), commandId('b'), serviceId('c'), packagesId('d')]).toEqual(['file:/a', 'command:b', 'service:c', 'packages:d']);
  });
});

describe('shortName', () => {
  it('drops the kind of an id built here, once', () => {
    expect(shortName(fileId('/etc/mail/authinfo'))).toBe('/etc/mail/authinfo');
    expect(shortName(commandId('makemap hash /etc/mail/access'))).toBe('makemap hash /etc/mail/access');
    expect(shortName(serviceId('sendmail'))).toBe('sendmail');
    expect(shortName(packagesId('sendmail,sendmail-cf'))).toBe('sendmail,sendmail-cf');
    // a name that holds a colon, or another kind's prefix, keeps it
    expect(shortName(commandId('file:/x'))).toBe('file:/x');
    expect(shortName(fileId(''))).toBe('');
  });

  it('keeps an id of another kind whole', () => {
    const rule = firewallRuleId('INPUT', '-p tcp --dport 25 -j ACCEPT');
    expect(shortName(rule)).toBe(rule);
    expect(shortName('files:/x')).toBe('files:/x');
    expect(shortName('no kind')).toBe('no kind');
    expect(shortName(':x')).toBe(':x');
  });
});
