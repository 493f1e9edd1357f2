"""Line framing and rendering of the relay, on bytes, with no pipes."""

import json

from bots_runtime.supervision.relay import Framer, WrapFormatter, render_raw


def test_whole_lines_pass_and_tail_waits() -> None:
    framer = Framer(100)
    assert framer.feed(b"a\nb\nc") == (b"a\nb\n", [])
    assert framer.feed(b"d\n") == (b"cd\n", [])
    assert framer.finish() == b""


def test_last_line_without_newline_is_completed_at_eof() -> None:
    framer = Framer(100)
    framer.feed(b"end")
    assert framer.finish() == b"end\n"


def test_long_line_is_split_into_pieces_not_dropped() -> None:
    framer = Framer(10)
    lines, pieces = framer.feed(b"x" * 25)
    assert lines == b""
    assert pieces == [b"x" * 10, b"x" * 10]
    lines, pieces = framer.feed(b"yy\nz\n")
    assert pieces == []
    assert lines == b"xxxxxyy\nz\n"


def test_long_line_with_newline_in_same_chunk() -> None:
    framer = Framer(10)
    lines, pieces = framer.feed(b"a" * 8)
    lines, pieces = framer.feed(b"b" * 8 + b"\nok\n")
    assert pieces == [b"a" * 8 + b"bb"]
    assert lines == b"b" * 6 + b"\nok\n"


def test_split_never_cuts_a_utf8_character() -> None:
    """A cut that would fall inside a multi-byte character moves before it; nothing is lost."""
    framer = Framer(4)
    lines, pieces = framer.feed("aé€x".encode())
    assert lines == b""
    # 4 bytes would end inside "€" (3 bytes after a 1+2-byte start): the cut moves back to 3.
    assert pieces == ["aé".encode()]
    assert framer.finish() == "€x\n".encode()
    assert b"".join([*pieces, "€x\n".encode()]).decode("utf-8") == "aé€x\n"


def test_wrapped_lines_are_json_with_escaped_invalid_utf8() -> None:
    fmt = WrapFormatter("svc", "stderr", 42)
    out = fmt.render(b'plain\n{"json": 1}\n\xff\xfe bad\n', [b"part"], 0.0)
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["event"] for e in events] == ["part", "plain", '{"json": 1}', "\\xff\\xfe bad"]
    assert events[0]["partial"] is True
    assert all(e["stream"] == "stderr" and e["pid"] == 42 for e in events)
    assert all(e["service"] == "svc" and e["logger"] == "child" for e in events)
    assert events[1]["timestamp"] == "1970-01-01T00:00:00.000000Z"


def test_raw_render_is_byte_identical() -> None:
    data = b"\x00\xffbinary\n"
    assert render_raw(data, [], 0.0) == data
    assert render_raw(b"rest\n", [b"head"], 0.0) == b"head\nrest\n"
