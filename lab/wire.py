#!/usr/bin/env python3
"""A userspace WAN wire for the NAT laboratory.

The kernel here has no queueing disciplines (no netem), so delay is emulated
in userspace: this process creates a TAP device in each of two network
namespaces and relays every Ethernet frame between them, holding it for the
one-way delay. Optionally, frames from one IPv4 address get extra delay in the
B -> A direction (a peer far from the rendezvous server).

usage: wire.py NS_A:IF_A NS_B:IF_B DELAY_MS [EXTRA_FROM_IP EXTRA_MS]
Prints "ready" once both devices exist; exits when stdin closes or on SIGTERM.
"""
import ctypes
import fcntl
import heapq
import os
import select
import signal
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_IPV4 = 0x0800
MAX_FRAME = 65536

libc = ctypes.CDLL(None, use_errno=True)


def enter_namespace(name):
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def open_tap(namespace, name):
    enter_namespace(namespace)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def ipv4_source(frame):
    if len(frame) >= 34 and struct.unpack("!H", frame[12:14])[0] == ETH_P_IPV4:
        return frame[26:30]
    return None


def main():
    (ns_a, if_a), (ns_b, if_b) = (arg.split(":") for arg in sys.argv[1:3])
    delay = float(sys.argv[3]) / 1000
    extra_from = socket.inet_aton(sys.argv[4]) if len(sys.argv) > 5 else None
    extra = float(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0.0

    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd_a = open_tap(ns_a, if_a)
    fd_b = open_tap(ns_b, if_b)
    libc.setns(own, CLONE_NEWNET)
    os.close(own)
    peer_of = {fd_a: fd_b, fd_b: fd_a}

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A wire is the network, not one of the programs under test: it must not
    # be starved of CPU by them (a loaded CI machine stalled one for seconds,
    # TCP backed off, and a tunnel's liveness check rightly called it dead).
    try:
        os.nice(-10)
    except PermissionError:
        pass  # not root: as it was
    print("ready", flush=True)

    queue = []  # (due, sequence, out_fd, frame): FIFO for equal delays
    sequence = 0
    stdin = sys.stdin.fileno()
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
        readable, _, _ = select.select([fd_a, fd_b, stdin], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd == stdin:
                if not os.read(stdin, 4096):
                    return
                continue
            while True:
                try:
                    frame = os.read(fd, MAX_FRAME)
                except BlockingIOError:
                    break
                hold = delay
                if extra and fd == fd_b and ipv4_source(frame) == extra_from:
                    hold += extra
                sequence += 1
                heapq.heappush(queue, (now + hold, sequence, peer_of[fd], frame))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                os.write(out, frame)
            except (BlockingIOError, OSError):
                pass  # a full or downed device drops the frame, like a wire


if __name__ == "__main__":
    main()
