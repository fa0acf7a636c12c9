// Resource ids, one helper per kind: a playbook that names another resource (onChangeOf, notify)
// builds its id here, so the id and the resource it means cannot drift apart. Ids are unique per
// host; the kind comes first ("file:/etc/mail/access"). firewallRuleId is beside its resource.

/** A file resource's id (file, absentFile): its path. */
export function fileId(path: string): string {
  return `file:${path}`;
}

/** A command resource's id: its name. */
export function commandId(name: string): string {
  return `command:${name}`;
}

/** A service resource's id: the service's name. */
export function serviceId(name: string): string {
  return `service:${name}`;
}

/** A packages resource's id: its name (default: the listed names, comma separated). */
export function packagesId(name: string): string {
  return `packages:${name}`;
}
