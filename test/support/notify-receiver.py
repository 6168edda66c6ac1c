#!/usr/bin/env python3
"""A NOTIFY_SOCKET for tests: receives sd_notify datagrams as systemd does, with the
sender's credentials (SO_PASSCRED / SCM_CREDENTIALS), and prints each as one JSON line:
{"pid": ..., "uid": ..., "gid": ..., "at": <ms since epoch>, "fields": {"READY": "1", ...}}.
Prints {"listening": path} once bound. Ends when stdin closes."""
import json
import os
import select
import socket
import struct
import sys
import time

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(path)
os.chmod(path, 0o777)
print(json.dumps({"listening": path}), flush=True)
creds_size = struct.calcsize("3i")
while True:
    ready, _, _ = select.select([sock, sys.stdin], [], [])
    if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
        break
    if sock not in ready:
        continue
    data, ancdata, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(creds_size))
    pid = uid = gid = None
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, gid = struct.unpack("3i", payload[:creds_size])
    fields = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        if "=" in line:
            name, value = line.split("=", 1)
            fields[name] = value
    print(json.dumps({"pid": pid, "uid": uid, "gid": gid, "at": time.time() * 1000, "fields": fields}), flush=True)
