// A mailprov inventory: the hosts to turn into sendmail relays, and what to do on them.
// Written by `mailprov init`; edit the addresses and the smart host, then:
//   mailprov check inventory.ts   # loads it and lints the settings; contacts no host
//   mailprov plan  inventory.ts   # what would change on each host (exit 2: changes pending)
//   mailprov apply inventory.ts   # change what differs, validate, restart only if needed, verify
// The smart-host password is never written here: it is read from the environment at run time,
//   export SMTP_PASSWORD='...'    (or secret.file('/path/to/file') below)
import { defineInventory, secret } from 'mailprov';
import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';

export default defineInventory({
  // for every host, unless the host says otherwise
  defaults: {
    user: 'root', // or a user with sudo rights: user: 'deploy', sudo: true (and -K to be asked its password once)
    // privateKey: '~/.ssh/id_ed25519', // a key file; without one, the keys held by ssh-agent (SSH_AUTH_SOCK) are used
    // privateKeyPassphraseEnv: 'MAILPROV_KEY_PASSPHRASE', // an encrypted key's passphrase (or --ask-key-pass)
    knownHosts: '~/.ssh/known_hosts', // host keys are always verified against this file
    hostKeyPolicy: 'strict', // or 'accept-new': record the key of a host seen for the first time
  },
  // the relays (192.0.2.0/24 is an address range for examples: put yours)
  hosts: {
    relay1: { address: '192.0.2.10', groups: ['relays'] },
    relay2: { address: '192.0.2.11', port: 22, groups: ['relays'] },
  },
  // what to do, and where: 'all', a group, a host, or a list of them
  playbooks: [
    {
      on: 'relays',
      use: sendmailSmartHost({
        smartHost: 'smtp.gmail.com', // your provider's submission server; sendmail relays only over TLS it can verify
        smartHostPort: 587,
        auth: { user: 'alerts@example.org', password: secret.env('SMTP_PASSWORD') },
        // relayFrom: ['192.168.1'], // networks whose machines may send through the relays (private ranges only)
        // verify: { recipient: 'ops@example.org' }, // after each change, prove it: a test message to this address
      }),
    },
  ],
});
