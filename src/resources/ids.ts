// Resource ids, one helper per kind: a resource builds its own id here, and a playbook that names
// another resource (onChangeOf, notify) builds it here too, so the id and the resource it means
// cannot drift apart. Ids are unique per host; the kind comes first ("file:/etc/mail/access").
// firewallRuleId is beside its resource.

/** The kinds whose ids are built here: a reason names a resource of these by what follows its kind (shortName). */
const KINDS = ['file', 'command', 'service', 'packages'] as const;
type IdKind = (typeof KINDS)[number];

const idOf = (kind: IdKind, name: string): string => `${kind}:${name}`;

/** A file resource's id (file, absentFile): its path. */
export function fileId(path: string): string {
  return idOf('file', path);
}

/** A command resource's id: its name. */
export function commandId(name: string): string {
  return idOf('command', name);
}

/** A service resource's id: the service's name. */
export function serviceId(name: string): string {
  return idOf('service', name);
}

/** A packages resource's id: its name (default: the listed names, comma separated). */
export function packagesId(name: string): string {
  return idOf('packages', name);
}

/**
 * "file:/etc/mail/authinfo" -> "/etc/mail/authinfo" for reasons a person reads. An id of a kind not
 * built here (a firewall rule's) is kept whole: its kind says what the rule is.
 */
export function shortName(resourceId: string): string {
  const colon = resourceId.indexOf(':');
  const kind = resourceId.slice(0, colon);
  return colon > 0 && (KINDS as readonly string[]).includes(kind) ? resourceId.slice(colon + 1) : resourceId;
}
