// What proves port 25 reachable from where the relay's clients are (smtpPortProbe): a setting's
// type (settings.ts) and what the check after apply calls (port-proof.ts).

export type ProbeOutcome = 'open' | 'refused' | 'unreachable' | 'timeout';

export interface SmtpPortProber {
  /** Who probes, as the error and the report name it: "the controller", "the office client 192.168.77.200". */
  name: string;
  /** The relay's address as the prober reaches it, by inventory host name, when settings do not give one. */
  addressOf?(hostName: string): string | undefined;
  connect(address: string, port: number): Promise<ProbeOutcome>;
}
