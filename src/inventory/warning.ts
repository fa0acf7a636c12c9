// A warning about an inventory file, shared by the loaders (Ansible INI/YAML, ssh_config targets)
// and the report that prints them.

/** Said once for an inventory file, not once per host; `hosts` are the hosts it is about. */
export interface InventoryWarning {
  file: string;
  message: string;
  hosts?: string[];
  /** Jump hosts it concerns that are no inventory host, named as written (ssh_config warnings). */
  jumpHosts?: string[];
}
