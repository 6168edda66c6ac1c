#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { runDaemonCommand } from './daemon-command.js';
import { ExitCode } from './exit-code.js';
import { parseReplicaNumber, runRestartCommand } from './restart-command.js';
import { runStatusCommand } from './status-command.js';

const DEFAULT_CONFIG = '/etc/switchyard/switchyard.toml';

function packageVersion(): string {
  const packageJson = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description('Zero-downtime FastCGI process-manager orchestrator')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('daemon')
    .description('run the FastCGI front end and balancer in the foreground (JSON logs on stdout)')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
    .option('--pretty', 'human-readable logs instead of JSON lines', false)
    .action(async (options: { config: string; pretty: boolean }) => {
      process.exitCode = await runDaemonCommand(options);
    });

  program
    .command('status')
    .description('show the running daemon: serving release, and each replica with its counters')
    .option('-c, --config <file>', 'configuration file (names the control socket)', DEFAULT_CONFIG)
    .option('--json', "the daemon's answer as JSON (full release paths)", false)
    .action(async (options: { config: string; json: boolean }) => {
      process.exitCode = await runStatusCommand(options);
    });

  program
    .command('restart')
    .description('restart the replicas one at a time without dropping a request')
    .option('-c, --config <file>', 'configuration file (names the control socket)', DEFAULT_CONFIG)
    .option('--replica <n>', 'restart only replica n (1 for replica-1)', parseReplicaNumber)
    .action(async (options: { config: string; replica?: number }) => {
      process.exitCode = await runRestartCommand(options);
    });

  return program;
}

async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    process.exitCode = ExitCode.usage;
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
}

await main(process.argv);
// Exit even if a stray handle (a half-closed client socket) would keep the loop alive.
if (process.exitCode !== undefined) process.exit();
