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

  it('hosts.example.ini with relay-playbooks.example.ts', async () => {
    const inv = await loadInventory(join(dir, 'hosts.example.ini'), { withPlaybooks: join(dir, 'relay-playbooks.example.ts') });
    expect(inv.hosts.length).toBeGreaterThan(0);
    expect(inv.hosts.filter((h) => h.playbooks.length).every((h) => h.playbooks[0].name === 'sendmail-smarthost')).toBe(true);
  });
});
