// Two playbooks on the same relays: the smart-host relay, then root's mail (cron, system mail) to a
// person. mailAliases is bound after sendmailSmartHost: resources run in the order of the bindings,
// and newaliases comes with sendmail.
//   SMTP_PASSWORD=... npx mailprov plan inventories/relay-with-aliases.example.ts
import { defineInventory, secret } from 'mailprov';
import { mailAliases } from 'mailprov/playbooks/mail-aliases';
import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';

export default defineInventory({
  defaults: { user: 'root', privateKey: '~/.ssh/id_ed25519', hostKeyPolicy: 'strict' },
  hosts: {
    relay1: { address: '192.0.2.10', groups: ['relays'] },
    relay2: { address: '192.0.2.11', groups: ['relays'] },
  },
  playbooks: [
    {
      on: 'relays',
      use: sendmailSmartHost({
        smartHost: 'smtp.gmail.com',
        auth: { user: 'alerts@example.org', password: secret.env('SMTP_PASSWORD') },
        verify: { recipient: 'ops@example.org' },
      }),
    },
    {
      on: 'relays',
      // only these entries of /etc/aliases are managed; the rest of the file is left as it is
      use: mailAliases({ root: 'ops@example.org', postmaster: 'root', 'MAILER-DAEMON': 'postmaster' }),
    },
  ],
});
