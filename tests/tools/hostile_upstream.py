#!/usr/bin/env python3
"""A misbehaving DNS upstream on one address and port (UDP and TCP), for tests,
the soak test and perf/hostile_upstream.sh. It counts what reaches it, so that a
test can tell how many upstream packets a forwarder spends per client query.

Modes (--mode):
  correct     answers every query (A 192.0.2.1, AAAA 2001:db8::1, TXT "hostile",
              NODATA for other types), over UDP and TCP
  slow        the same, --delay-ms later
  lowercase   like correct, but the question comes back in lower case, as from a
              server or middlebox that rewrites it (no DNS 0x20 echo)
  servfail    SERVFAIL, question echoed, no records
  refused     REFUSED likewise
  silent      reads queries and never answers (TCP connections are accepted and
              left open until the peer closes them)
  garbage     answers each UDP query with two datagrams: random bytes, and a
              malformed answer carrying the query's ID (QR set, a question that
              runs past the end, records announced but absent); over TCP, the same
              malformed answer
  tc_reset    answers UDP with TC set and no records; accepts TCP connections and
              resets them at once (SO_LINGER 0)
  tc_refuse   answers UDP with TC set; no TCP listener, so the kernel refuses every
              connection. The connection attempts (SYNs) are counted by a packet
              socket on the loopback interface, which needs CAP_NET_RAW (root).

Answers (correct, slow) carry TTL --ttl (default 300), or n for a name whose first
label is "ttl-<n>" (ttl-4294967295.example gets 0xffffffff).

--record FILE appends one line per UDP query received: its source port, its ID
and its question name as sent (case kept), for perf/rfc5452_bits.py.

Counts: udp_datagrams (queries received over UDP), tcp_connections (accepted, or
in tc_refuse mode SYNs seen), tcp_messages (queries read over TCP), and the total
upstream_packets = udp_datagrams + tcp_connections. They are written as JSON to
--stats-file (replaced atomically, after every change and before the answer to the
packet that changed them leaves), printed to stdout on SIGUSR1 and at exit
(SIGTERM, SIGINT), and reset to zero on SIGUSR2.

Example:
  hostile_upstream.py --port 5400 --mode tc_reset --stats-file /tmp/up.json
"""
import argparse
import errno
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time

MODES = ("correct", "slow", "lowercase", "servfail", "refused", "silent", "garbage", "tc_reset", "tc_refuse")

QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
RCODE_SERVFAIL, RCODE_REFUSED = 2, 5
TYPE_A, TYPE_TXT, TYPE_AAAA = 1, 16, 28
ETH_P_ALL = 0x0003
PACKET_HOST = 0


def parse_question(query):
    """(id, flags, question bytes, first label, qtype) of a query, or None when it
    has no readable question."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack(">HHH", query[:6])
    if qdcount != 1:
        return None
    offset, labels = 12, []
    while True:
        if offset >= len(query):
            return None
        length = query[offset]
        if length == 0:
            offset += 1
            break
        if length > 63:
            return None
        labels.append(query[offset + 1:offset + 1 + length])
        offset += 1 + length
    if offset + 4 > len(query):
        return None
    qtype = struct.unpack(">H", query[offset:offset + 2])[0]
    first = labels[0].decode("ascii", "replace").lower() if labels else ""
    return qid, flags, query[12:offset + 4], first, qtype


def header(qid, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


class Upstream:
    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        self.family = socket.AF_INET6 if ":" in args.address else socket.AF_INET
        self.selector = selectors.DefaultSelector()
        self.counts = {"udp_datagrams": 0, "tcp_connections": 0, "tcp_messages": 0}
        self.pending = []  # (due, send callable) for slow mode
        self.tcp_buffers = {}  # connection -> bytes read so far
        self.running = True
        self.stats_dirty = True
        self.record = open(args.record, "a", buffering=1) if args.record else None

        # Signals wake the select loop up through this pair (signal.set_wakeup_fd).
        self.wakeup_read, self.wakeup_write = socket.socketpair()
        self.wakeup_read.setblocking(False)
        self.wakeup_write.setblocking(False)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ, self.on_wakeup)

        self.udp = socket.socket(self.family, socket.SOCK_DGRAM)
        self.udp.bind((args.address, args.port))
        self.udp.setblocking(False)
        self.selector.register(self.udp, selectors.EVENT_READ, self.on_udp)

        self.tcp = None
        if self.mode != "tc_refuse":
            self.tcp = socket.socket(self.family, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind((args.address, args.port))
            self.tcp.listen(512)
            self.tcp.setblocking(False)
            self.selector.register(self.tcp, selectors.EVENT_READ, self.on_accept)
        else:
            # Refused connections never reach a socket: count their SYNs on the wire.
            try:
                self.sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                             socket.htons(ETH_P_ALL))
            except PermissionError:
                sys.exit("hostile_upstream: tc_refuse counts SYNs with a packet socket, "
                         "which needs CAP_NET_RAW (run as root)")
            self.sniffer.bind(("lo", 0))
            self.sniffer.setblocking(False)
            self.selector.register(self.sniffer, selectors.EVENT_READ, self.on_sniffed)

    # ------------------------------------------------------------------ stats

    def count(self, name):
        self.counts[name] += 1
        self.stats_dirty = True
        self.write_stats()

    def stats(self):
        total = self.counts["udp_datagrams"] + self.counts["tcp_connections"]
        return dict(self.counts, upstream_packets=total, mode=self.mode, port=self.args.port)

    def write_stats(self):
        if not self.args.stats_file or not self.stats_dirty:
            return
        temporary = self.args.stats_file + ".tmp"
        with open(temporary, "w") as f:
            json.dump(self.stats(), f)
        os.replace(temporary, self.args.stats_file)
        self.stats_dirty = False

    def print_stats(self):
        print(json.dumps(self.stats()), flush=True)

    def reset(self):
        for name in self.counts:
            self.counts[name] = 0
        self.stats_dirty = True
        self.write_stats()

    # ---------------------------------------------------------------- answers

    def ttl_for(self, first_label):
        if first_label.startswith("ttl-"):
            try:
                return int(first_label[4:]) & 0xFFFFFFFF
            except ValueError:
                pass
        return self.args.ttl

    def answer(self, query):
        """The replies (a list of messages) the mode gives `query`."""
        parsed = parse_question(query)
        if self.mode == "garbage":
            noise = bytes(random.getrandbits(8) for _ in range(random.randint(1, 80)))
            qid = struct.unpack(">H", query[:2])[0] if len(query) >= 2 else 0
            # A question that runs past the end, and two answers that are not there.
            malformed = header(qid, QR | RD | RA, qd=1, an=2) + b"\x07example\x03co"
            return [noise, malformed]
        if parsed is None or self.mode == "silent":
            return []
        qid, flags, question, first, qtype = parsed
        base = QR | (flags & RD)
        if self.mode in ("tc_reset", "tc_refuse"):
            return [header(qid, base | AA | TC) + question]
        if self.mode == "servfail":
            return [header(qid, base | RA | RCODE_SERVFAIL) + question]
        if self.mode == "refused":
            return [header(qid, base | RCODE_REFUSED) + question]
        # correct, slow, lowercase
        if self.mode == "lowercase":
            question = question.lower()  # only letters change: lengths are below 'A'
        ttl = self.ttl_for(first)
        if qtype == TYPE_A:
            rdata = bytes([192, 0, 2, 1])
        elif qtype == TYPE_AAAA:
            rdata = bytes.fromhex("20010db8000000000000000000000001")
        elif qtype == TYPE_TXT:
            rdata = b"\x07hostile"
        else:
            return [header(qid, base | AA | RA) + question]
        record = struct.pack(">HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata
        return [header(qid, base | AA | RA, an=1) + question + record]

    def later(self, send):
        if self.mode == "slow":
            self.pending.append((time.monotonic() + self.args.delay_ms / 1000.0, send))
        else:
            send()

    # ------------------------------------------------------------------ events

    def on_wakeup(self, sock):
        try:
            while sock.recv(64):
                pass
        except BlockingIOError:
            pass

    def on_udp(self, sock):
        while True:
            try:
                query, peer = sock.recvfrom(65535)
            except BlockingIOError:
                return
            self.count("udp_datagrams")
            if self.record is not None:
                self.record_query(query, peer)
            for reply in self.answer(query):
                self.later(lambda reply=reply, peer=peer: self.send_udp(reply, peer))

    def record_query(self, query, peer):
        if len(query) < 13:
            return
        offset, labels = 12, []
        while offset < len(query) and 0 < query[offset] < 64:
            labels.append(query[offset + 1:offset + 1 + query[offset]])
            offset += 1 + query[offset]
        name = b".".join(labels).decode("ascii", "replace")
        qid = struct.unpack(">H", query[:2])[0]
        self.record.write(f"{peer[1]} {qid} {name}\n")

    def send_udp(self, reply, peer):
        try:
            self.udp.sendto(reply, peer)
        except OSError:
            pass

    def on_accept(self, sock):
        while True:
            try:
                connection, _ = sock.accept()
            except BlockingIOError:
                return
            self.count("tcp_connections")
            if self.mode == "tc_reset":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
                connection.close()  # RST
                continue
            connection.setblocking(False)
            self.tcp_buffers[connection] = b""
            self.selector.register(connection, selectors.EVENT_READ, self.on_tcp)

    def on_tcp(self, connection):
        try:
            data = connection.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close_tcp(connection)
            return
        buffer = self.tcp_buffers[connection] + data
        while len(buffer) >= 2:
            length = struct.unpack(">H", buffer[:2])[0]
            if len(buffer) < 2 + length:
                break
            query, buffer = buffer[2:2 + length], buffer[2 + length:]
            self.count("tcp_messages")
            for reply in self.answer(query):
                framed = struct.pack(">H", len(reply)) + reply
                self.later(lambda framed=framed, c=connection: self.send_tcp(c, framed))
        self.tcp_buffers[connection] = buffer

    def send_tcp(self, connection, framed):
        if connection not in self.tcp_buffers:
            return
        try:
            connection.setblocking(True)
            connection.settimeout(1.0)
            connection.sendall(framed)
            connection.setblocking(False)
        except OSError:
            self.close_tcp(connection)

    def close_tcp(self, connection):
        if connection in self.tcp_buffers:
            del self.tcp_buffers[connection]
            self.selector.unregister(connection)
            connection.close()

    def on_sniffed(self, sock):
        while True:
            try:
                frame, address = sock.recvfrom(65535)
            except BlockingIOError:
                return
            if address[2] != PACKET_HOST:
                continue  # loopback shows each packet twice: outgoing and incoming
            if self.is_syn_to_us(frame[14:]):  # lo frames carry a zeroed Ethernet header
                self.count("tcp_connections")

    def is_syn_to_us(self, packet):
        if len(packet) < 1:
            return False
        version = packet[0] >> 4
        if version == 4 and self.family == socket.AF_INET and len(packet) >= 20:
            if packet[9] != socket.IPPROTO_TCP:
                return False
            tcp = packet[(packet[0] & 0x0F) * 4:]
        elif version == 6 and self.family == socket.AF_INET6 and len(packet) >= 40:
            if packet[6] != socket.IPPROTO_TCP:
                return False
            tcp = packet[40:]
        else:
            return False
        if len(tcp) < 14:
            return False
        port = struct.unpack(">H", tcp[2:4])[0]
        flags = tcp[13]
        return port == self.args.port and (flags & 0x02) and not (flags & 0x10)  # SYN, no ACK

    # -------------------------------------------------------------------- loop

    def run(self):
        self.write_stats()
        while self.running:
            timeout = None
            if self.pending:
                timeout = max(0.0, min(due for due, _ in self.pending) - time.monotonic())
            try:
                events = self.selector.select(timeout)
            except InterruptedError:
                continue
            for key, _ in events:
                key.data(key.fileobj)
            now = time.monotonic()
            due = [send for when, send in self.pending if when <= now]
            self.pending = [(when, send) for when, send in self.pending if when > now]
            for send in due:
                send()
        self.write_stats()
        self.print_stats()


def main():
    parser = argparse.ArgumentParser(
        description="A misbehaving DNS upstream that counts what reaches it.",
        epilog="See the module docstring for what each mode does.")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, required=True, help="UDP and TCP port")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--delay-ms", type=int, default=1000, help="slow mode's delay")
    parser.add_argument("--ttl", type=int, default=300, help="TTL of correct answers")
    parser.add_argument("--stats-file", help="JSON counts, rewritten after every change")
    parser.add_argument("--record", help="append 'source-port id name' per UDP query here")
    args = parser.parse_args()

    try:
        upstream = Upstream(args)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            sys.exit(f"hostile_upstream: {args.address}:{args.port} is in use")
        raise

    def stop(_signum, _frame):
        upstream.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda _s, _f: upstream.print_stats())
    signal.signal(signal.SIGUSR2, lambda _s, _f: upstream.reset())
    signal.set_wakeup_fd(upstream.wakeup_write.fileno(), warn_on_full_buffer=False)
    print(f"hostile_upstream: {args.mode} on {args.address}:{args.port}", flush=True)
    upstream.run()


if __name__ == "__main__":
    main()
