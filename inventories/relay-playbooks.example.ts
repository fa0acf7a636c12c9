// The playbooks for an INI host list (see hosts.example.ini): the default export is the bindings.
import { secret } from 'mailprov';
import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';

export default [
  {
    on: 'relays',
    use: sendmailSmartHost({
      smartHost: 'smtp.gmail.com',
      auth: { user: 'alerts@example.org', password: secret.env('SMTP_PASSWORD') },
    }),
  },
];
