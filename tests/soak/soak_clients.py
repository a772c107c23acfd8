"""The soak test's clients (tests/soak/soak_test.py): DNS wire helpers and the
traffic generators, each a loop on a thread of its own that stops when told and
counts what it sent, what was answered, what was lost and what was wrong.

Every client binds its own loopback source address, so that the server's
per-client limits (keyed on the /32, limits.client_ipv4_prefix) apply to one
kind of traffic each: the well-behaved clients stay far below their budgets by
construction, the abuser far above its own. Every wait is bounded."""

import random
import select
import socket
import struct
import threading
import time

MAX_TTL = 86400  # cache.max_ttl (1d): no TTL a client is given may exceed it
KEEP_ERRORS = 20  # the first errors of each client are kept for the report


def encode_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")
                    if label) + b"\0"


def build_query(name, qtype=1, qid=0, qclass=1, flags=0x0100, opcode=0, edns=True):
    """A query; flags are the header's second 16 bits without the opcode."""
    flags = (flags & ~0x7800) | (opcode << 11)
    header = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0) if edns else b""
    return header + encode_name(name) + struct.pack(">HH", qtype, qclass) + opt


def read_name(msg, at):
    """(lower-case presentation name, offset after it); follows compression."""
    labels, end, hops = [], None, 0
    while True:
        if at >= len(msg):
            raise ValueError("a name runs past the end")
        length = msg[at]
        if length & 0xC0 == 0xC0:
            if at + 1 >= len(msg):
                raise ValueError("a pointer runs past the end")
            if end is None:
                end = at + 2
            at = ((length & 0x3F) << 8) | msg[at + 1]
            hops += 1
            if hops > 64:
                raise ValueError("a compression loop")
            continue
        if length & 0xC0:
            raise ValueError("a bad label type")
        if length == 0:
            at += 1
            break
        labels.append(msg[at + 1:at + 1 + length].decode("ascii", "replace").lower())
        at += 1 + length
    return ".".join(labels) + ".", end if end is not None else at


class Reply:
    """A parsed reply: header fields, the question, and the answer and authority
    records as (name, type, class, ttl, rdata bytes)."""

    def __init__(self, msg):
        if len(msg) < 12:
            raise ValueError(f"a {len(msg)}-byte reply")
        self.id, self.flags, qd, an, ns, _ = struct.unpack(">HHHHHH", msg[:12])
        self.rcode = self.flags & 0x0F
        self.opcode = (self.flags >> 11) & 0x0F
        self.tc = bool(self.flags & 0x0200)
        self.qname, self.qtype, self.qclass = None, None, None
        at = 12
        if qd:
            self.qname, at = read_name(msg, at)
            self.qtype, self.qclass = struct.unpack(">HH", msg[at:at + 4])
            at += 4
        self.answers, self.authority = [], []
        for section, count in ((self.answers, an), (self.authority, ns)):
            for _ in range(count):
                name, at = read_name(msg, at)
                rtype, rclass, ttl, length = struct.unpack(">HHIH", msg[at:at + 10])
                at += 10
                if at + length > len(msg):
                    raise ValueError("a record runs past the end")
                section.append((name, rtype, rclass, ttl, msg[at:at + length]))
                at += length

    def addresses(self, rtype=1):
        return sorted(socket.inet_ntop(socket.AF_INET if rtype == 1 else socket.AF_INET6, r[4])
                      for r in self.answers if r[1] == rtype)


def ttl_problem(reply):
    for name, rtype, _, ttl, _ in reply.answers + reply.authority:
        if ttl > MAX_TTL:
            return f"{name} type {rtype} carries TTL {ttl} > cache.max_ttl {MAX_TTL}"
    return None


# Checkers: each takes a Reply and returns None when it is right, else what is wrong.
def expect_addresses(addresses, rtype=1):
    want = sorted(addresses)

    def check(reply):
        if reply.rcode != 0:
            return f"rcode {reply.rcode}, expected NOERROR with {want}"
        got = reply.addresses(rtype)
        return None if got == want else f"answer {got}, expected {want}"
    return check


def expect_blocked(reply):
    if reply.rcode != 3 or any(r[1] in (1, 28) for r in reply.answers):
        return f"rcode {reply.rcode} with {reply.addresses()}, expected blocked (NXDOMAIN)"
    return None


def expect_rcode(*rcodes):
    def check(reply):
        return None if reply.rcode in rcodes else f"rcode {reply.rcode}, expected one of {rcodes}"
    return check


def expect_any(_reply):
    return None


class Stats:
    """What one client saw. `lost`: well-formed queries given no reply within the
    client's timeout; `wrong`: replies that did not match what the filter and the
    zone say (errors holds the first few)."""

    def __init__(self, name):
        self.name = name
        self.sent = self.answered = self.lost = self.wrong = self.late = self.truncated = 0
        self.rcodes = {}
        self.errors = []
        self.lock = threading.Lock()

    def error(self, text, wrong=True):
        with self.lock:
            self.wrong += 1 if wrong else 0
            if len(self.errors) < KEEP_ERRORS:
                self.errors.append(f"{time.strftime('%H:%M:%S')} {text}")

    def __repr__(self):
        return (f"{self.name}: sent {self.sent}, answered {self.answered}, lost {self.lost}, "
                f"wrong {self.wrong}, late {self.late}")


class Client(threading.Thread):
    def __init__(self, name, source, server):
        super().__init__(name=name, daemon=True)
        self.stats = Stats(name)
        self.source, self.server = source, server
        self.stop_event = threading.Event()
        self.crash = None

    def run(self):
        try:
            self.loop()
        except Exception as error:  # noqa: BLE001 - reported as a failure of the test
            self.crash = f"{self.name} crashed: {error!r}"

    def stop(self):
        self.stop_event.set()


class UdpStream(Client):
    """Queries from one socket at `rate` a second, up to `window` in flight, each
    waited for `timeout` seconds. `next_query()` returns (name, qtype, qclass,
    opcode, flags, check)."""

    def __init__(self, name, source, server, rate, next_query, window=32, timeout=4.0):
        super().__init__(name, source, server)
        self.rate, self.next_query, self.window, self.timeout = rate, next_query, window, timeout

    def loop(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.source, 0))
        sock.setblocking(False)
        outstanding = {}
        interval = 1.0 / self.rate
        next_send = time.monotonic()
        recent = {}  # ids of queries given up on, for a late reply's count
        while True:
            now = time.monotonic()
            if not self.stop_event.is_set():
                while now >= next_send and len(outstanding) < self.window:
                    name, qtype, qclass, opcode, flags, check = self.next_query()
                    qid = random.randrange(65536)
                    while qid in outstanding:
                        qid = random.randrange(65536)
                    try:
                        sock.sendto(build_query(name, qtype, qid, qclass, flags, opcode),
                                    self.server)
                    except OSError as error:  # our side: not sent, not the server's loss
                        self.stats.error(f"send: {error!r}", wrong=False)
                        next_send += interval
                        break
                    outstanding[qid] = (now, name.lower().rstrip(".") + ".", qtype, check)
                    self.stats.sent += 1
                    next_send += interval
                if next_send < now - 1.0:
                    next_send = now  # behind (the window was full): no catch-up burst
            elif not outstanding:
                break
            for qid, (sent_at, name, qtype, _) in list(outstanding.items()):
                if now - sent_at > self.timeout:
                    del outstanding[qid]
                    recent[qid] = now
                    self.stats.lost += 1
                    if self.stats.lost <= 5:
                        self.stats.error(f"no reply within {self.timeout} s: {name} type {qtype}",
                                         wrong=False)
            wait = 0.05 if self.stop_event.is_set() else max(0.0, min(next_send - now, 0.05))
            ready, _, _ = select.select([sock], [], [], wait)
            if not ready:
                continue
            while True:
                try:
                    data = sock.recv(65535)
                except BlockingIOError:
                    break
                self.on_reply(data, outstanding, recent)
        sock.close()

    def on_reply(self, data, outstanding, recent):
        try:
            reply = Reply(data)
        except (ValueError, struct.error) as error:
            self.stats.error(f"unparsable reply: {error}")
            return
        entry = outstanding.get(reply.id)
        if entry is None:
            if reply.id in recent:
                self.stats.late += 1
            else:
                self.stats.error(f"a reply to no query of ours: id {reply.id} {reply.qname}")
            return
        sent_at, name, qtype, check = entry
        if reply.qname is not None and (reply.qname != name or reply.qtype != qtype):
            self.stats.error(f"reply for {reply.qname}/{reply.qtype} to a query for {name}/{qtype}")
            return
        del outstanding[reply.id]
        self.stats.answered += 1
        self.stats.rcodes[reply.rcode] = self.stats.rcodes.get(reply.rcode, 0) + 1
        if reply.tc:
            self.stats.truncated += 1
            return  # a truncated reply says "ask over TCP", nothing about the name
        problem = check(reply) or ttl_problem(reply)
        if problem:
            self.stats.error(f"{name} type {qtype}: {problem}")


def exchange_all(source, server, queries, timeout=4.0):
    """Sends [(name, qtype, check)] over one UDP socket at once and waits for all;
    returns (replies by index or None, errors)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    ids = random.sample(range(65536), len(queries))
    for qid, (name, qtype, _) in zip(ids, queries):
        sock.sendto(build_query(name, qtype, qid), server)
    index = {qid: i for i, qid in enumerate(ids)}
    results = [None] * len(queries)
    deadline = time.monotonic() + timeout
    left = len(queries)
    while left and time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        data = sock.recv(65535)
        try:
            reply = Reply(data)
        except (ValueError, struct.error):
            continue
        i = index.get(reply.id)
        if i is not None and results[i] is None:
            results[i] = reply
            left -= 1
    sock.close()
    return results


def frame(wire):
    return struct.pack(">H", len(wire)) + wire


class TcpPipeliner(Client):
    """Every `every` seconds: one connection, `batch` queries written at once
    (RFC 7766 pipelining), every answer read back (in any order) within
    `timeout`. A query whose answer never comes, or a connection the server
    refuses or closes first, is lost: TCP has no counted drop for a well-formed
    query from a client within its budget."""

    def __init__(self, name, source, server, every, batch, next_query, timeout=5.0):
        super().__init__(name, source, server)
        self.every, self.batch, self.next_query, self.timeout = every, batch, next_query, timeout
        self.connections = 0

    def loop(self):
        while not self.stop_event.wait(self.every):
            self.round()

    def round(self):
        queries = {}
        wire = b""
        for qid in random.sample(range(65536), self.batch):
            name, qtype, check = self.next_query()
            queries[qid] = (name.lower().rstrip(".") + ".", qtype, check)
            wire += frame(build_query(name, qtype, qid))
        self.stats.sent += len(queries)
        deadline = time.monotonic() + self.timeout
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((self.source, 0))
                sock.settimeout(self.timeout)
                sock.connect(self.server)
                self.connections += 1
                sock.sendall(wire)
                buffer = b""
                while queries and time.monotonic() < deadline:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = sock.recv(65535)
                    if not chunk:
                        raise ConnectionError("closed by the server")
                    buffer += chunk
                    while len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack(">H", buffer[:2])[0]:
                        length = struct.unpack(">H", buffer[:2])[0]
                        self.on_reply(buffer[2:2 + length], queries)
                        buffer = buffer[2 + length:]
        except (OSError, ConnectionError) as error:
            if queries:
                self.stats.error(f"connection: {error!r} with {len(queries)} queries unanswered",
                                 wrong=False)
        self.stats.lost += len(queries)

    def on_reply(self, data, queries):
        try:
            reply = Reply(data)
        except (ValueError, struct.error) as error:
            self.stats.error(f"unparsable reply: {error}")
            return
        entry = queries.pop(reply.id, None)
        if entry is None:
            self.stats.error(f"a reply to no query of ours: id {reply.id}")
            return
        name, qtype, check = entry
        self.stats.answered += 1
        self.stats.rcodes[reply.rcode] = self.stats.rcodes.get(reply.rcode, 0) + 1
        if reply.qname != name or reply.qtype != qtype:
            self.stats.error(f"reply for {reply.qname}/{reply.qtype} to a query for {name}/{qtype}")
            return
        problem = check(reply) or ttl_problem(reply)
        if problem:
            self.stats.error(f"tcp {name} type {qtype}: {problem}")


class SlowTcp(Client):
    """Slowloris: `count` connections, each writing a framed query one byte every
    `byte_interval` seconds, reconnecting when the server closes it. Nothing is
    asserted about them; the legitimate TCP client's answers are what counts."""

    def __init__(self, name, source, server, count, byte_interval=1.0):
        super().__init__(name, source, server)
        self.count, self.byte_interval = count, byte_interval
        self.closed_by_server = 0
        self.connections = 0

    def connect(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.source, 0))
            sock.settimeout(2.0)
            sock.connect(self.server)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        self.connections += 1
        return [sock, frame(build_query(f"slow{random.randrange(1 << 30)}.example.test", 1,
                                        random.randrange(65536))), 0]

    def loop(self):
        conns = []
        while not self.stop_event.is_set():
            while len(conns) < self.count and not self.stop_event.is_set():
                conn = self.connect()
                if conn is None:
                    break
                conns.append(conn)
            alive = []
            for conn in conns:
                sock, wire, at = conn
                try:
                    if sock.recv(65535) == b"":
                        raise ConnectionError("closed")
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_by_server += 1
                    sock.close()
                    continue
                try:
                    if at < len(wire):
                        sock.send(wire[at:at + 1])
                        conn[2] = at + 1
                        self.stats.sent += 1  # bytes
                    else:
                        conn[1], conn[2] = frame(build_query(
                            f"slow{random.randrange(1 << 30)}.example.test", 1,
                            random.randrange(65536))), 0
                except OSError:
                    self.closed_by_server += 1
                    sock.close()
                    continue
                alive.append(conn)
            conns = alive
            self.stop_event.wait(self.byte_interval)
        for sock, _, _ in conns:
            sock.close()


class Garbage(Client):
    """Datagrams that are not well-formed queries, `rate` a second: shorter than a
    header (counted as dropped, reason short), responses (QR set: never answered,
    no reflection; reason qr_set) and random bytes (FORMERR or dropped). Each kind
    from a socket of its own, so that a reply to the first two is seen."""

    def __init__(self, name, source, server, rate):
        super().__init__(name, source, server)
        self.rate = rate
        self.sent_kind = {"short": 0, "qr_set": 0, "random": 0}
        self.replies_kind = {"short": 0, "qr_set": 0, "random": 0}

    def loop(self):
        socks = {}
        for kind in self.sent_kind:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.source, 0))
            sock.setblocking(False)
            socks[kind] = sock
        kinds = list(self.sent_kind)
        while not self.stop_event.wait(1.0 / self.rate):
            kind = random.choice(kinds)
            if kind == "short":
                payload = random.randbytes(random.randrange(12))
            elif kind == "qr_set":
                payload = build_query("reflect.example.test", 1, random.randrange(65536),
                                      flags=0x8180)
            else:
                payload = random.randbytes(random.randrange(12, 300))
                # QR clear and one question, so that it reaches the parser
                payload = payload[:2] + bytes([payload[2] & 0x7F]) + payload[3:4] + b"\0\1" + \
                    payload[6:]
            socks[kind].sendto(payload, self.server)
            self.sent_kind[kind] += 1
            self.stats.sent += 1
            for sock_kind, sock in socks.items():
                try:
                    while sock.recv(65535):
                        self.replies_kind[sock_kind] += 1
                except BlockingIOError:
                    pass
        time.sleep(0.5)
        for sock_kind, sock in socks.items():
            try:
                while sock.recv(65535):
                    self.replies_kind[sock_kind] += 1
            except BlockingIOError:
                pass
            sock.close()


class Abuser(Client):
    """Every `every` seconds, `burst` identical queries at once from one socket:
    far over its client_qps budget (rate_limited drops) and, for what is
    admitted, over the RRL rate of one (name, type, RCODE) (rrl_dropped, or TC
    every slip-th). Replies are collected for `collect` seconds; what is not
    answered is lost, and must be matched by counted drops."""

    def __init__(self, name, source, server, every, burst, qname, collect=3.0):
        super().__init__(name, source, server)
        self.every, self.burst, self.qname, self.collect = every, burst, qname, collect

    def loop(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.source, 0))
        try:  # room for every reply of a burst (root may exceed rmem_max)
            sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        while not self.stop_event.wait(self.every):
            for qid in range(self.burst):
                sock.sendto(build_query(self.qname, 1, qid), self.server)
            self.stats.sent += self.burst
            seen = set()
            deadline = time.monotonic() + self.collect
            while time.monotonic() < deadline:
                ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    break
                data = sock.recv(65535)
                try:
                    reply = Reply(data)
                except (ValueError, struct.error):
                    self.stats.error("unparsable reply")
                    continue
                if reply.id in seen or reply.id >= self.burst:
                    self.stats.error(f"a reply twice or to no query: id {reply.id}")
                    continue
                seen.add(reply.id)
                if reply.tc:
                    self.stats.truncated += 1
                self.stats.rcodes[reply.rcode] = self.stats.rcodes.get(reply.rcode, 0) + 1
            self.stats.answered += len(seen)
            self.stats.lost += self.burst - len(seen)
        sock.close()
