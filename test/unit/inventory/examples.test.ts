// The example inventories under inventories/ load as a user's would (tsc type-checks them too).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../../src/inventory/load.ts';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'inventories');
const bound = (inv: Awaited<ReturnType<typeof loadInventory>>) => inv.hosts.map((h) => [h.name, h.playbooks.map((p) => p.name)]);

describe('example inventories', () => {
  it('production.example.ts binds the relay playbook', async () => {
    expect(bound(await loadInventory(join(dir, 'production.example.ts')))).toEqual([
      ['relay1', ['sendmail-smarthost']],
      ['relay2', ['sendmail-smarthost']],
    ]);
  });

  it('relay-with-aliases.example.ts binds both playbooks, mailAliases after sendmailSmartHost, with no resource twice', async () => {
    const inv = await loadInventory(join(dir, 'relay-with-aliases.example.ts'));
    expect(bound(inv)).toEqual([
      ['relay1', ['sendmail-smarthost', 'mail-aliases']],
      ['relay2', ['sendmail-smarthost', 'mail-aliases']],
    ]);
    const ids = inv.hosts[0].playbooks.flatMap((p) => p.parts.resources.map((r) => r.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(-3)).toEqual(['file:/etc/aliases', 'command:restorecon /etc/aliases', 'command:newaliases']);
  });

  it('hosts.example.ini with relay-playbooks.example.ts binds the relay playbook to the relays group only', async () => {
    const inv = await loadInventory(join(dir, 'hosts.example.ini'), { withPlaybooks: join(dir, 'relay-playbooks.example.ts') });
    // every host named, the bound ones and the one outside `relays`: a --with that binds nothing fails here
    expect(bound(inv)).toEqual([
      ['relay0', []],
      ['relay1', ['sendmail-smarthost']],
      ['relay2', ['sendmail-smarthost']],
      ['relay3', ['sendmail-smarthost']],
    ]);
    expect(inv.hosts.map((h) => `${h.target.user}@${h.target.address}:${h.target.port}`)).toEqual([
      'root@192.0.2.9:22',
      'root@192.0.2.10:22',
      'root@192.0.2.11:2222',
      'root@192.0.2.12:22',
    ]);
  });
});
