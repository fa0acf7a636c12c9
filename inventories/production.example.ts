// An example production inventory: two relays sending through Gmail's submission port.
// The app password comes from the controller's environment at apply time, never from this file:
//   SMTP_PASSWORD=... npx mailprov plan inventories/production.example.ts
import { defineInventory, secret } from 'mailprov';
import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';

export default defineInventory({
  defaults: { user: 'root', privateKey: '~/.ssh/id_ed25519', hostKeyPolicy: 'strict' },
  hosts: {
    relay1: { address: '192.0.2.10', groups: ['relays'] },
    relay2: { address: '192.0.2.11', port: 2222, groups: ['relays'] },
  },
  playbooks: [
    {
      on: 'relays',
      use: sendmailSmartHost({
        smartHost: 'smtp.gmail.com',
        smartHostPort: 587,
        auth: { user: 'alerts@example.org', password: secret.env('SMTP_PASSWORD') },
        localDomain: 'relay.example.org',
        relayFrom: ['192.168', '10.0.0'],
        listen: ['0.0.0.0'],
      }),
    },
  ],
});
