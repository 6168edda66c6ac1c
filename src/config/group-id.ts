import { readFileSync } from 'node:fs';
import { ConfigError } from './config-error.js';

const GROUP_FILE = '/etc/group';

/**
 * The gid of `name` from /etc/group (a number is taken as a gid). Groups only a directory
 * service knows (LDAP through NSS) are not looked up: name them by gid.
 */
export function resolveGroup(name: string, groupFile = GROUP_FILE, key = 'control.group'): number {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch (error) {
    throw new ConfigError(
      key,
      `cannot read ${groupFile} to find group ${JSON.stringify(name)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  for (const line of text.split('\n')) {
    const [groupName, , gid] = line.split(':');
    if (groupName === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  if (/^\d+$/.test(name)) return Number(name);
  throw new ConfigError(
    key,
    `unknown group ${JSON.stringify(name)}: not in ${groupFile} (create it with \`groupadd ${name}\`, or leave ${key} out)`,
  );
}
