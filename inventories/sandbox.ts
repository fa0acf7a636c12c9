// The local sandbox (`mailprov sandbox up`): every sandbox host becomes a relay through the
// stand-in smart host, exactly as a production host would relay through Gmail on port 587.
import { defineInventory } from 'mailprov';
import { readState, relaySettings, sandboxAddress, sandboxPortProber } from 'mailprov/sandbox';
import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';

const state = readState();
if (!state) throw new Error('no sandbox is running here: run `mailprov sandbox up` (or `npm run demo`) first');
// on a LAN, port 25 is proven open from the office client after each apply that changes a host
const prober = sandboxPortProber(state);

export default defineInventory({
  defaults: {
    user: 'root',
    privateKey: state.privateKey,
    knownHosts: state.knownHosts,
    hostKeyPolicy: 'strict',
  },
  // a private host (no port here) is reached through the sandbox hosts that reach it
  hosts: Object.fromEntries(
    state.hosts.map((h) => [
      h.name,
      { ...sandboxAddress(state, h), groups: ['relays'], vars: h.lanAddress ? { lanAddress: h.lanAddress } : {} },
    ]),
  ),
  playbooks: [
    {
      on: 'relays',
      // on a sandbox LAN (`sandbox up --lan`) each relay also listens on its LAN address, for the
      // office's machines; otherwise on every address of its own (the host's namespace has no other)
      use: (host) =>
        sendmailSmartHost(
          relaySettings(
            state,
            typeof host.vars.lanAddress === 'string'
              ? { listen: ['127.0.0.1', host.vars.lanAddress], ...(prober ? { smtpPortProbe: { prober } } : {}) }
              : {},
          ),
        ),
    },
  ],
});
