# switchyard for Capistrano 3: after `deploy:symlink:release` moves `current` (also in
# `cap deploy:rollback`), wait until switchyard serves the release on every replica; when it
# does not (the release fails to start, its health check or its warm-up, and switchyard puts
# `current` back; or the release is outside release.root), the deploy fails with switchyard's
# reason and the worker's own output.
#
# Copy it to lib/capistrano/tasks/ (the Capfile loads *.rake from there), and in
# config/deploy.rb, when the defaults do not fit:
#
#   set :switchyard_config, "/etc/switchyard/switchyard.toml"
#   set :switchyard_roles, :app
#
# The deploy user runs `switchyard await`, which needs the control socket: put the user in
# `control.group`, or `set :switchyard_command, "sudo switchyard"`.

require "shellwords"

namespace :load do
  task :defaults do
    # The command on the host; not quoted, so it may be "sudo switchyard" or a full path.
    set :switchyard_command, "switchyard"
    # The config that names switchyard's control socket.
    set :switchyard_config, "/etc/switchyard/switchyard.toml"
    # Seconds to wait for every replica to serve the release (starts, health checks, warm-ups).
    set :switchyard_await_timeout, 120
    # The hosts that run switchyard.
    set :switchyard_roles, :all
  end
end

namespace :switchyard do
  desc "Wait until switchyard serves the release current now points at, on every replica"
  task :await do
    on roles(fetch(:switchyard_roles)) do
      # A non-zero exit raises SSHKit::Command::Failed with switchyard's reason: the deploy
      # fails (and deploy:failed runs).
      execute fetch(:switchyard_command), "await",
        "--release", release_path.to_s.shellescape,
        "--timeout", "#{fetch(:switchyard_await_timeout).to_i}s",
        "-c", fetch(:switchyard_config).to_s.shellescape
    end
  end
end

after "deploy:symlink:release", "switchyard:await"
