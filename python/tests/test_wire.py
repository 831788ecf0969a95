"""The bytes of tether-protocol(7)'s EXAMPLE section, from our encoder
and decoder (no server needed)."""
import tether
from tether import wire
from tether.args import Out, encode


def hx(s):
    return bytes.fromhex(s.replace(" ", ""))


def test_getpid_request_and_reply():
    assert wire.frame([1, 2, [39, encode([])]]) == hx("00000006 93 01 02 92"
                                                      " 27 90")
    assert wire.unpack(hx("93 01 00 92 cd 10 92 90")) == [1, 0, [4242, []]]


def test_read_request_and_reply():
    req = [2, 2, [0, encode([3, Out(64), 64])]]
    assert wire.frame(req) == hx("00 00 00 0b 93 02 02 92 00 93 03 92 01 40"
                                 " 40")
    rep = wire.unpack(hx("93 02 00 92 07 93 c0 c4 07 6d 79 68 6f 73 74 0a"
                         " c0"))
    assert rep == [2, 0, [7, [None, b"myhost\n", None]]]


def test_hello_and_put():
    assert wire.frame([1, 1, [1, 0, 2548]]) == hx("00 00 00 09 93 01 01 93"
                                                  " 01 00 cd 09 f4")
    assert wire.frame([3, 22, ["/tmp/f"]]) == hx(
        "00 00 00 0b 93 03 16 91 a6 2f 74 6d 70 2f 66")
    done = wire.unpack(hx("93 03 00 84 a4 64 6f 6e 65 c3 a5 62 79 74 65 73"
                          " 03 a4 78 78 68 33 d3 b3 4d 1a 3a b2 be ce 70 a4"
                          " 70 61 74 68 a6 2f 74 6d 70 2f 66"))[2]
    assert wire.u64(done["xxh3"]) == 0xb34d1a3ab2bece70
    h = wire.Hasher()
    h.update(b"hi\n")
    h.check(done)          # the hash too, when python3-xxhash is there
    assert tether.HAVE_XXH3 or h.h is None


def test_strings_that_are_not_utf8_round_trip():
    raw = b"/tmp/\xff\xfe"
    s = wire.unpack(wire.pack(raw.decode("utf-8", "surrogateescape")))
    import os
    assert os.fsencode(s) == raw
