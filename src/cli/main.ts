#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

/** Exit codes every command shares (sysexits.h for configuration errors). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  config: 78,
} as const;

function packageVersion(): string {
  const packageJson = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  return new Command('switchyard')
    .description('Zero-downtime FastCGI process-manager orchestrator')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
}

function main(argv: readonly string[]): void {
  const program = buildProgram();
  try {
    program.parse(argv);
  } catch (error) {
    const code = (error as { exitCode?: number }).exitCode;
    process.exitCode = code === 0 ? ExitCode.ok : ExitCode.usage;
    return;
  }
  if (program.args.length === 0) {
    program.outputHelp({ error: true });
    process.exitCode = ExitCode.usage;
  }
}

main(process.argv);
