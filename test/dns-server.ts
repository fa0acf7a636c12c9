// A DNS server on loopback for tests of the sender domain's SPF and DMARC: UDP (dgram) with
// dns-packet's wire format, answering TXT questions from a zone the test gives and changes. A name
// not in the zone is NXDOMAIN; a name with no records, NODATA; a name may instead answer SERVFAIL
// or REFUSED, or get no answer at all (a timeout).
import { createSocket, type Socket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';

/** Each TXT record as its strings (one string per record, or several for one over 255 bytes), or a failure. */
export type ZoneEntry = (string | string[])[] | 'servfail' | 'refused' | 'drop';
export type Zone = Record<string, ZoneEntry>;

export interface DnsTestServer {
  /** `127.0.0.1:<port>`, as dnsServers and MAILPROV_DNS_SERVERS take it. */
  address: string;
  zone: Zone;
  /** Every question asked, as `name TYPE`, in order. */
  queries: string[];
  close(): Promise<void>;
}

const RCODE = { noerror: 0, servfail: 2, nxdomain: 3, refused: 5 } as const;

export async function startDnsServer(zone: Zone = {}): Promise<DnsTestServer> {
  const socket: Socket = createSocket('udp4');
  const server: DnsTestServer = {
    address: '',
    zone,
    queries: [],
    close: () => new Promise((done) => socket.close(() => done())),
  };
  socket.on('message', (msg, rinfo) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return; // not DNS: no answer
    }
    const question = query.questions?.[0];
    if (!question) return;
    server.queries.push(`${question.name} ${question.type}`);
    const entry = server.zone[question.name.toLowerCase()];
    if (entry === 'drop') return;
    const rcode =
      entry === undefined ? RCODE.nxdomain : entry === 'servfail' ? RCODE.servfail : entry === 'refused' ? RCODE.refused : RCODE.noerror;
    const answers =
      Array.isArray(entry) && question.type === 'TXT'
        ? entry.map((data) => ({ type: 'TXT' as const, name: question.name, ttl: 60, data: Array.isArray(data) ? data : [data] }))
        : [];
    const reply = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
      questions: [question],
      answers,
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(0, '127.0.0.1', () => ok());
  });
  server.address = `127.0.0.1:${socket.address().port}`;
  return server;
}
