#!/usr/bin/env python3
"""What a systemd socket unit does across `systemctl restart`, for tests: holds a listening
unix socket open while daemon generations come and go, and starts each with the socket as
fd 3, LISTEN_FDS=1, LISTEN_FDNAMES=<name> and LISTEN_PID set to the child's own pid (by the
shell it execs from, as systemd sets it after the fork).

Usage: socket-holder.py SOCKET_PATH NAME LOG_DIR -- COMMAND...
stdin, one command a line: "start" starts a generation and prints {"pid": N, "log": path};
EOF closes the socket and exits. Prints {"listening": path} once bound."""
import json
import os
import socket
import subprocess
import sys

path, name, log_dir = sys.argv[1], sys.argv[2], sys.argv[3]
command = sys.argv[sys.argv.index("--") + 1:]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(path)
os.chmod(path, 0o666)
sock.listen(4096)
fd = sock.fileno()
print(json.dumps({"listening": path}), flush=True)

generation = 0
children = []
for line in sys.stdin:
    if line.strip() != "start":
        continue
    generation += 1
    log = os.path.join(log_dir, f"generation-{generation}.log")
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES=name)
    # fd N becomes fd 3 and N is closed; LISTEN_PID is the pid that then execs the daemon.
    script = f'exec 3<&{fd} {fd}<&-; LISTEN_PID=$$ exec "$@"' if fd != 3 else 'LISTEN_PID=$$ exec "$@"'
    with open(log, "wb") as out:
        child = subprocess.Popen(
            ["/bin/sh", "-c", script, "socket-holder", *command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
        )
    children.append(child)
    print(json.dumps({"pid": child.pid, "log": log}), flush=True)
sock.close()
for child in children:
    child.wait()
