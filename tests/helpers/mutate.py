"""Bounded, seeded mutations of valid datagrams for decoder robustness tests.

Two kinds: ``mutations`` works on raw octets (truncate, flip bits, replace or insert octets),
which mostly breaks the framing; ``structured_mutations`` parses a seed into its TLV tree and
changes one node while keeping every enclosing length right (retag a value, give it edge-case
content, drop/duplicate/swap elements, nest a value, write a length in a long or indefinite
form), so the mutant gets past the framing into the value decoders and range checks.

The TLV walker here is deliberately independent of shared.ber: it must not share its bugs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


def mutations(seeds: Sequence[bytes], count: int, seed: int) -> Iterator[bytes]:
    """``count`` variants of the seeds: truncated, bit-flipped, byte-replaced or grown."""
    rng = random.Random(seed)
    for i in range(count):
        data = bytearray(seeds[i % len(seeds)])
        mode = rng.randrange(4)
        if mode == 0:
            data = data[: rng.randrange(len(data))]
        elif mode == 1:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif mode == 2:
            data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            pos = rng.randrange(len(data))
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        yield bytes(data)


# -- a small TLV tree -------------------------------------------------------------------------

CONSTRUCTED_TAGS = frozenset({0x30, *range(0xA0, 0xA9)})


@dataclass
class Node:
    tag: int
    content: bytes = b""
    children: list[Node] | None = None  # None for a primitive
    length_form: str = "short"  # "short" (minimal), "long" (0x84 + 4 octets), "indefinite"
    raw_length: bytes | None = field(default=None, repr=False)  # overrides the length octets


def parse(data: bytes) -> Node:
    """Parse one well-formed TLV (definite lengths, one-octet tags) that fills ``data``."""
    node, end = _parse_at(data, 0, len(data), depth=0)
    if end != len(data):
        raise ValueError("trailing octets")
    return node


def _parse_at(data: bytes, pos: int, end: int, depth: int) -> tuple[Node, int]:
    if depth > 16 or pos + 2 > end:
        raise ValueError("too deep or truncated")
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or pos + k > end:
            raise ValueError("indefinite or bad length")
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    stop = pos + n
    if stop > end:
        raise ValueError("length beyond the data")
    if tag in CONSTRUCTED_TAGS:
        children: list[Node] = []
        while pos < stop:
            child, pos = _parse_at(data, pos, stop, depth + 1)
            children.append(child)
        return Node(tag, children=children), stop
    return Node(tag, data[pos:stop]), stop


def serialize(node: Node) -> bytes:
    body = node.content if node.children is None else b"".join(map(serialize, node.children))
    if node.raw_length is not None:
        return bytes((node.tag,)) + node.raw_length + body
    if node.length_form == "indefinite":
        return bytes((node.tag, 0x80)) + body + b"\x00\x00"
    if node.length_form == "long" or len(body) >= 0x80:
        if node.length_form == "long":
            return bytes((node.tag, 0x84)) + len(body).to_bytes(4, "big") + body
        octets = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
        return bytes((node.tag, 0x80 | len(octets))) + octets + body
    return bytes((node.tag, len(body))) + body


def walk(node: Node) -> Iterator[tuple[Node | None, Node]]:
    """(parent, node) for every node, depth first, the root with parent None."""
    stack: list[tuple[Node | None, Node]] = [(None, node)]
    while stack:
        parent, current = stack.pop()
        yield parent, current
        for child in reversed(current.children or []):
            stack.append((current, child))


# Tags an SNMP agent may put in a value position, and a few it may not.
VALUE_TAGS = (0x02, 0x04, 0x05, 0x06, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82)
ODD_TAGS = (0x01, 0x03, 0x09, 0x0C, 0x13, 0x24, 0x45, 0x47, 0x83, 0x1F, 0x3F, 0x9F)

# Contents at the edges of the SMI ranges, and the quirks real agents send.
EDGE_CONTENTS = tuple(
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "7f",
        "80",
        "ff",
        "0080",
        "80e8",  # 33000 without its leading 0x00
        "7fffffff",
        "80000000",
        "0080000000",
        "ff7fffffff",
        "ffffffff",
        "00ffffffff",
        "0100000000",
        "8000000000",
        "ffffffffff",
        "0000000005",
        "ffffffffffffffff",
        "00ffffffffffffffff",
        "010000000000000000",
        "800000000000000000",
        "00000000000000000000",
        "0a000001",
        "0a0000",
        "0a00000101",
        "2b0601",
        "2b80",
        "2b8001",
        "8fffffff7f",
        "9080808000",
        "2b8fffffff7f",
    )
)


def structured_mutations(seeds: Sequence[bytes], count: int, seed: int) -> Iterator[bytes]:
    """``count`` mutants of the (well-formed) seeds, each with one or two tree edits."""
    rng = random.Random(seed)
    trees = [parse(s) for s in seeds]
    for i in range(count):
        root = _copy(trees[i % len(trees)])
        for _ in range(rng.choice((1, 1, 1, 2))):
            _edit(root, rng)
        yield serialize(root)


def _copy(node: Node) -> Node:
    children = None if node.children is None else [_copy(c) for c in node.children]
    return Node(node.tag, node.content, children, node.length_form, node.raw_length)


def _edit(root: Node, rng: random.Random) -> None:
    nodes = list(walk(root))
    parent, node = nodes[rng.randrange(len(nodes))]
    primitives = [(p, n) for p, n in nodes if n.children is None]
    mode = rng.randrange(9)
    if mode <= 2 and primitives:  # the most useful: edge content in a value position
        _, node = primitives[rng.randrange(len(primitives))]
        node.content = rng.choice(EDGE_CONTENTS)
        if rng.random() < 0.5:
            node.tag = rng.choice(VALUE_TAGS)
    elif mode == 3 and primitives:
        _, node = primitives[rng.randrange(len(primitives))]
        node.tag = rng.choice(VALUE_TAGS + ODD_TAGS)
    elif mode == 4 and parent is not None and parent.children:
        parent.children.remove(node)
    elif mode == 5 and parent is not None and parent.children:
        parent.children.insert(parent.children.index(node), _copy(node))
    elif mode == 6 and parent is not None and parent.children and len(parent.children) > 1:
        a, b = rng.sample(range(len(parent.children)), 2)
        parent.children[a], parent.children[b] = parent.children[b], parent.children[a]
    elif mode == 7 and parent is not None and parent.children:
        wrapper = Node(rng.choice((0x30, 0x24, 0xA2)), children=[node])
        parent.children[parent.children.index(node)] = wrapper
    else:
        choice = rng.randrange(4)
        if choice == 0:
            node.length_form = "long"  # legal BER, RFC 3417 section 8
        elif choice == 1:
            node.length_form = "indefinite"  # forbidden by RFC 3417 section 8
        elif choice == 2:
            node.raw_length = bytes((0x85,)) + (len(_body(node))).to_bytes(5, "big")
        else:
            node.raw_length = bytes((rng.randrange(256),))  # a wrong length


def _body(node: Node) -> bytes:
    return node.content if node.children is None else b"".join(map(serialize, node.children))
