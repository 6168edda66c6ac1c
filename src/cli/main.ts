#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_AWAIT_TIMEOUT, parseAwaitTimeout, runAwaitCommand } from './await-command.js';
import { runDaemonCommand } from './daemon-command.js';
import { parseReleaseDir, runDeployCommand } from './deploy-command.js';
import { ExitCode } from './exit-code.js';
import { parseReplicaNumber, runRestartCommand } from './restart-command.js';
import { runRollbackCommand } from './rollback-command.js';
import { runStatusCommand } from './status-command.js';
import { runUpgradeCommand } from './upgrade-command.js';

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
    .summary('run the daemon in the foreground: replicas, FastCGI front, control socket')
    .description(
      'Run in the foreground: start and supervise the replicas, serve FastCGI (JSON logs on stdout).\n' +
        'SIGTERM/SIGINT finish in-flight requests and stop (exit 0), SIGHUP re-reads the config;\n' +
        'exit 1 when it cannot start, 78 for a bad config',
    )
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

  program
    .command('deploy')
    .description('switch to the release in <dir> without dropping a request')
    .argument(
      '<dir>',
      'the release directory (a relative path is taken from the current directory)',
      parseReleaseDir,
    )
    .option('-c, --config <file>', 'configuration file (names the control socket)', DEFAULT_CONFIG)
    .option(
      '--force',
      'deploy even when <dir> is already the current release (restarts every replica on it)',
    )
    .addHelpText(
      'after',
      `
The daemon checks <dir> first: it must exist and be a directory (symlinks are followed),
lie inside release.root when that is set, and not be the current release (unless --force).
A refused <dir> changes nothing. Then it points release.symlink at <dir>, starts replicas
on it, health-checks and warms them up, and cuts over: from then on new requests go to the
new release while the old replicas finish theirs. If the new release fails before the
cut-over, the old one keeps serving and the symlink is put back.

Exit status: 0 deployed; 1 failed, refused or no daemon; 2 usage; 78 config error.
Ctrl-C stops watching, not the deploy (see \`switchyard status\`).

Examples:
  switchyard deploy /srv/app/releases/43
  cd /srv/app && switchyard deploy releases/43
  switchyard deploy --force /srv/app/releases/43   # restart every replica on it
`,
    )
    .action(async (dir: string, options: { config: string; force?: boolean }) => {
      process.exitCode = await runDeployCommand(dir, {
        config: options.config,
        force: options.force === true,
      });
    });

  program
    .command('rollback')
    .description('switch back to the release served before the current one')
    .option('-c, --config <file>', 'configuration file (names the control socket)', DEFAULT_CONFIG)
    .addHelpText(
      'after',
      `
Goes back to the release \`switchyard status\` shows as "rollback", the same way a deploy
goes forward (new replicas first, then the cut-over). With no earlier release in the
daemon's history it is refused and nothing changes.

Exit status: 0 rolled back; 1 failed, refused or no daemon; 2 usage; 78 config error.
Ctrl-C stops watching, not the rollback (see \`switchyard status\`).
`,
    )
    .action(async (options: { config: string }) => {
      process.exitCode = await runRollbackCommand(options);
    });

  program
    .command('await')
    .description('wait until every replica serves the release the symlink was flipped to')
    .option('-c, --config <file>', 'configuration file (names the control socket)', DEFAULT_CONFIG)
    .option(
      '--release <dir>',
      'the release the symlink was flipped to (a relative path is taken from the current directory)',
      parseReleaseDir,
    )
    .addOption(
      new Option('--timeout <duration>', 'give up after this long (e.g. 90s, 5m; at most 60m)')
        .argParser(parseAwaitTimeout)
        .default(parseAwaitTimeout(DEFAULT_AWAIT_TIMEOUT), DEFAULT_AWAIT_TIMEOUT),
    )
    .addHelpText(
      'after',
      `
For deploy tools that flip release.symlink themselves (Deployer's deploy:symlink, Capistrano's
deploy:symlink:release, ln -sfn): run it right after the flip. The daemon reads the symlink at
once (it does not wait for its watcher), switches to the release as \`deploy\` would, and the
command prints the progress. Give --release, the directory the tool flipped to: when the
switch failed and the daemon put the symlink back before this command connected, the
symlink no longer names it, but the daemon's history does. Without --release it waits for
the symlink's target, and reports the daemon's last switch when that was a flip that failed
and was put back.

Exit status: 0 every replica serves the release; 1 the daemon refused the flip (a target
outside release.root), abandoned it (the new release failed; the symlink is put back),
another flip replaced it, the timeout passed, or no daemon; 2 usage; 78 config error.
Ctrl-C stops watching, not the switch (see \`switchyard status\`).

Examples:
  ln -sfn /srv/app/releases/43 /srv/app/current && switchyard await --release /srv/app/releases/43
  switchyard await --timeout 5m
`,
    )
    .action(async (options: { config: string; release?: string; timeout: number }) => {
      process.exitCode = await runAwaitCommand({
        config: options.config,
        timeoutMs: options.timeout,
        ...(options.release === undefined ? {} : { release: options.release }),
      });
    });

  program
    .command('upgrade')
    .description('replace the running daemon by a new one on the same sockets, refusing nothing')
    .option('-c, --config <file>', 'configuration file (names the control socket)', DEFAULT_CONFIG)
    .option('--binary <path>', "the switchyard to start (default: the running one's command line)")
    .addHelpText(
      'after',
      `
For a new build of switchyard, or a config change that needs a restart (listen, paths,
control). The running daemon starts the new one with its listening sockets inherited; the
new one starts and health-checks its own replicas while the old one serves; once it is
ready both accept from the same sockets, then the old one stops accepting, finishes its
requests, stops its replicas and exits. Under systemd the main pid is handed over
(MAINPID=), so the unit never restarts. SIGUSR2 to the daemon does the same.

If the new daemon does not become ready (a config it refuses, replicas that do not start),
it exits, the old one serves on, and this command says why.

Exit status: 0 the new daemon serves; 1 it failed (the old one serves on), refused (a
deploy, rollback or restart running) or no daemon; 2 usage; 78 config error.
`,
    )
    .action(async (options: { config: string; binary?: string }) => {
      process.exitCode = await runUpgradeCommand(options);
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
