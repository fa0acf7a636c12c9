// Two groups of relays, each with its own smart-host account (group vars), and a host with an
// account of its own (host vars win). The passwords come from the controller's environment:
//   SMTP_PASSWORD_EU=... SMTP_PASSWORD_US=... npx mailprov plan inventories/per-group.example.ts
import { defineInventory, secret } from 'mailprov';
import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';

export default defineInventory({
  defaults: { user: 'root', privateKey: '~/.ssh/id_ed25519', vars: { smartHost: 'smtp.gmail.com' } },
  groups: {
    eu: { vars: { smtpUser: 'eu-alerts@example.org', smtpPasswordEnv: 'SMTP_PASSWORD_EU' } },
    us: { vars: { smtpUser: 'us-alerts@example.org', smtpPasswordEnv: 'SMTP_PASSWORD_US' } },
  },
  hosts: {
    relay1: { address: '192.0.2.10', groups: ['eu'] },
    relay2: { address: '192.0.2.11', groups: ['us'] },
    relay3: { address: '192.0.2.12', groups: ['us'], vars: { smtpUser: 'relay3@example.org' } },
  },
  playbooks: [
    {
      on: ['eu', 'us'],
      use: (host) =>
        sendmailSmartHost({
          smartHost: host.vars.smartHost,
          auth: { user: host.vars.smtpUser, password: secret.env(host.vars.smtpPasswordEnv) },
          relayFrom: ['10.0.0'],
        }),
    },
  ],
});
