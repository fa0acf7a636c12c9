// The playbooks for an INI host list (see hosts.example.ini): the default export is the bindings.
// Each host's settings come from its INI vars (group vars merged under the host line's own).
import { secret, type Binding } from 'mailprov';
import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';

export default [
  {
    on: 'relays',
    use: (host) =>
      sendmailSmartHost({
        smartHost: 'smtp.gmail.com',
        auth: { user: host.vars.smtp_user, password: secret.env(host.vars.smtp_password_env) },
      }),
  },
] satisfies Binding[];
