import { readFileSync } from 'node:fs';

/**
 * Whether a user name (or number) is uid 0: `root`, `0`, or any /etc/passwd entry with uid 0
 * (`toor`). A name /etc/passwd does not list is not root as far as this can tell; php-fpm
 * refuses unknown users itself.
 */
export function isRootAccount(name: string, passwdPath = '/etc/passwd'): boolean {
  if (name === 'root' || /^0+$/.test(name)) return true;
  let passwd: string;
  try {
    passwd = readFileSync(passwdPath, 'utf8');
  } catch {
    return false;
  }
  return passwd.split('\n').some((line) => {
    const [user, , uid] = line.split(':');
    return user === name && uid === '0';
  });
}
