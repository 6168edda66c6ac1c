<?php
/*
 * switchyard for Deployer 7: after `deploy:symlink` flips `current`, wait until switchyard
 * serves the new release on every replica; when it does not (the release fails to start, its
 * health check or its warm-up, and switchyard puts `current` back; or the release is outside
 * release.root), the deploy fails with switchyard's reason and the worker's own output.
 *
 * In deploy.php, after `require 'recipe/common.php';` (or a framework recipe):
 *
 *     require __DIR__ . '/deploy/deployer/switchyard.php';
 *     set('switchyard_config', '/etc/switchyard/switchyard.toml');
 *
 * The deploy user runs `switchyard await`, which needs the control socket: put the user in
 * `control.group`, or set `switchyard_bin` to `sudo switchyard`.
 */

namespace Deployer;

// The command on the host; not quoted, so it may be `sudo switchyard` or a full path.
set('switchyard_bin', 'switchyard');
// The config that names switchyard's control socket.
set('switchyard_config', '/etc/switchyard/switchyard.toml');
// Seconds to wait for every replica to serve the release (starts, health checks, warm-ups).
set('switchyard_await_timeout', 120);

/** Runs `switchyard await --release <release>` and prints its progress. */
function switchyardAwait(string $release): void
{
    $timeout = (int) get('switchyard_await_timeout');
    $command = sprintf(
        '%s await --release %s --timeout %ds -c %s',
        get('switchyard_bin'),
        escapeshellarg($release),
        $timeout,
        escapeshellarg(get('switchyard_config')),
    );
    // A little past switchyard's own timeout, so its answer (which says why) arrives first. A
    // non-zero exit throws, with switchyard's reason: the deploy fails.
    writeln(run($command, timeout: $timeout + 30));
}

desc('Waits until switchyard serves the release on every replica');
task('switchyard:await', function () {
    switchyardAwait(get('release_path'));
});

desc('Waits until switchyard serves the release rolled back to');
task('switchyard:await-rollback', function () {
    switchyardAwait(parse('{{deploy_path}}/releases/{{rollback_candidate}}'));
});

after('deploy:symlink', 'switchyard:await');
after('rollback', 'switchyard:await-rollback');
