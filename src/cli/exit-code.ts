/** Exit codes every command shares (78 is EX_CONFIG from sysexits.h). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  config: 78,
} as const;
